"""The bundled demo: configuration, reference data, provider files and the fake Partner Center."""
