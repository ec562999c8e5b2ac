"""Packaging for invoice-pipeline: import and validate provider invoices with Dagster."""

from setuptools import find_packages, setup

setup(
    name="invoice-pipeline",
    version="0.1.0",
    description="Imports and validates provider invoices (Partner Center, distributors, vendors) with Dagster.",
    python_requires=">=3.11,<3.14",
    packages=find_packages(exclude=["invoice_pipeline_tests*", "benchmarks*"]),
    include_package_data=True,
    package_data={
        "invoice_pipeline": [
            "demo/**/*",
            "demo/*",
            "notifications/templates/*",
            "reconciliation/templates/*",
            "warehouse/migrations/*",
            "warehouse/migrations/versions/*",
        ]
    },
    install_requires=[
        # The Dagster integration libraries pin this exact Dagster release.
        "dagster==1.13.27",
        "dagster-webserver==1.13.27",
        "dagster-duckdb==0.29.27",
        "dagster-pandera==0.29.27",
        "dagster-postgres==0.29.27",
        "pandera[ibis]==0.35.0",
        "ibis-framework[duckdb]==12.0.0",
        "duckdb==2.0.0",
        "duckdb-engine==0.17.0",
        "sqlalchemy>=2.0,<2.2",
        # dagster-pandera still needs pandas below 3.
        "pandas>=2.2,<3",
        "pyarrow>=18,<27",
        "pydantic>=2.7,<3",
        "pyyaml>=6,<7",
        "click>=8.1,<9",
        "jinja2>=3.1,<4",
        # Jinja2's own escaping, used directly to show a mail line's command as code.
        "markupsafe>=2.1,<4",
        "tenacity>=9,<10",
        "alembic==1.20.1",
        "psycopg[binary]==3.3.9",
        "httpx==0.28.1",
        # The reconciliation report's charts, drawn as SVG inside the HTML: nothing to fetch when it is opened.
        "matplotlib==3.11.2",
    ],
    extras_require={
        "test": [
            "pytest>=8,<10",
            # Runs the suite on two workers (pytest.ini's addopts).
            "pytest-xdist==3.8.0",
            "aiosmtpd==1.4.6",
            "hypothesis==6.170.15",
            "psutil>=6,<8",
            "ruff==0.17.5",
            # The import contracts of .importlinter (the layers; no Dagster or click below the adapters).
            "import-linter==2.16",
            # The type checker CI runs (mypy.ini), with the stubs of the untyped libraries the package uses.
            "mypy==2.4.1",
            "pandas-stubs==2.3.3.260113",
            "types-PyYAML==6.0.12.20261122",
            # Validates deploy/'s instance config against the K8s run launcher's own schema.
            "dagster-k8s==0.29.27",
            "jsonschema==4.26.0",
            # Drives Debian's chromium (apt: chromium chromium-driver) in the browser smoke test.
            "selenium==4.51.0",
        ],
    },
    entry_points={
        "console_scripts": ["invoice-pipeline=invoice_pipeline.cli:main"],
    },
)
