"""The project's exceptions, one tree, translated to messages at the edges.

Error                    base of everything we raise on purpose; str() is a one-line message
├── IndexMismatch        the index was built by another embedder or chunker: rebuild it
├── StoreError           the vector or lexical store could not be read or written
├── SkipFile             a document could not be ingested (not text, empty, unreadable)
└── ModelError           a model file is missing, corrupt, or not usable

The assistant adds ConfigError (assistant.config): a setting has an invalid value.

The CLI prints ``str(err)`` on one line and exits with ``err.exit_code``.
"""


class Error(Exception):
    exit_code = 1


class IndexMismatch(Error):
    exit_code = 3


class StoreError(Error):
    exit_code = 4


class SkipFile(Error):
    exit_code = 1


class ModelError(Error):
    exit_code = 5
