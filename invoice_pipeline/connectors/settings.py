"""What every connector's settings share: strict keys, folders read relative to the configuration file, and no
secret written in the file.

A connector declares its settings as a subclass of `ConnectorSettings` (the folder connector's `path`, Partner
Center's `partner_center` block) and registers it in `registry.py`; the configuration validates a provider's own
keys with the model of the connector it names.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, ClassVar

from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationInfo, model_validator
from pydantic_core import PydanticCustomError

# The validation context's key for the configuration file's folder: the folders the settings name resolve against it.
CONFIG_FOLDER = "config_folder"
# The error type of a secret written in the file; its context's `where` holds the keys down to the mapping with it.
SECRET_IN_THE_FILE = "secret_in_the_file"
# Keys that hold a secret, as the refusal names them; any other key holding one of SECRET_WORDS is named as written.
SECRET_KEYS = {
    "client_secret": "client secret",
    "clientsecret": "client secret",
    "secret": "secret",
    "password": "password",
}
SECRET_WORDS = ("secret", "password", "passwd", "token", "apikey", "privatekey", "credential")
NOT_A_SECRET_ENDINGS = ("env", "url", "uri", "endpoint", "file", "path")


def _config_folder(value: Path, info: ValidationInfo) -> Path:
    """A folder named in the configuration file: relative to the file's folder, and one that exists (checked when
    the file is loaded, i.e. with the file's folder in the validation context)."""
    base = (info.context or {}).get(CONFIG_FOLDER)
    if base is None:
        return value
    folder = value.expanduser()
    folder = folder if folder.is_absolute() else (Path(base) / folder).resolve()
    if not folder.is_dir():
        raise ValueError(f"folder {folder} does not exist")
    return folder


ConfigFolder = Annotated[Path, AfterValidator(_config_folder)]


class ConnectorSettings(BaseModel):
    """A connector's own settings: the keys it adds to a provider's entry in the configuration file.

    Its keys differ from the provider's own (id, name, sync, connector, checksum_tolerance and the line file
    limits). Whatever the connector, a secret written in the file (a key such as `client_secret` or `password`, at
    any depth) is refused: a secret belongs in an environment variable, whose name the settings give.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    # How this connector is given a secret instead: the end of the refusal's message.
    secret_instead: ClassVar[str] = "give that variable's name in this connector's settings"
    # The provider writes Microsoft's GUIDs (customer, subscription, product ids) in any case: the import compares
    # its lines' references with the reference data in lower case.
    guids_in_any_case: ClassVar[bool] = False

    @property
    def folder(self) -> Path | None:
        """The folder the provider's invoices are read from, for a connector that reads one; None otherwise (a
        manual provider needs one: its invoices are created there by hand)."""
        return None

    @model_validator(mode="before")
    @classmethod
    def _no_secret_in_the_file(cls, data: object) -> object:
        found = _secret_key(data, ())
        if found is not None:
            where, key = found
            raise PydanticCustomError(
                SECRET_IN_THE_FILE,
                "never write the {secret} in this file: put it in an environment variable and {instead}",
                {"where": ".".join(where), "secret": key, "instead": cls.secret_instead},
            )
        return data


def _secret_key(data: object, where: tuple[str, ...]) -> tuple[tuple[str, ...], str] | None:
    """The first key naming a secret in `data`, at any depth: the keys down to the mapping that holds it, and it.
    Only keys are read: a value is never echoed."""
    if isinstance(data, dict):
        secret = next((named for key in data if (named := _secret_named(str(key))) is not None), None)
        if secret is not None:
            return where, secret
        children = [(str(key), value) for key, value in data.items()]
    elif isinstance(data, list):
        children = [(str(i), value) for i, value in enumerate(data)]
    else:
        return None
    for name, value in children:
        found = _secret_key(value, (*where, name))
        if found is not None:
            return found
    return None


def _secret_named(key: str) -> str | None:
    """How the refusal names the secret a key holds (`client_secret`, `api_token`, `apiKey`...), or None for a key
    holding none: a key ending in `_env` names the environment variable that holds the secret (the way to give one),
    and one ending in `_url`, `_file` or `_path` says where a secret is asked for or kept, not the secret."""
    folded = "".join(character for character in key.lower() if character.isalnum())
    if folded.endswith(NOT_A_SECRET_ENDINGS):
        return None
    if key.lower() in SECRET_KEYS:
        return SECRET_KEYS[key.lower()]
    return key if any(word in folded for word in SECRET_WORDS) else None
