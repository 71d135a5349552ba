"""The hook's modules as one file of byte code, compiled at install time: one read instead of 15 imports.

The hook is a fresh interpreter per alert, and most of what it adds to a bare start is finding,
opening, checking and reading one ``.pyc`` file per module of its success path. The installer
runs this file once per interpreter the hook may use (after byte-compiling the package)::

    <python> -I -S <lib>/wazuh_ocsf/hook/bundle.py

which imports the success path of the hook for every OCSF class (so the list is the real
modules' own imports, never kept by hand), compiles each of those modules from its source and
writes them to ``wazuh_ocsf/__pycache__/hook-bundle.<cache tag>.bin``: a small index (for each
module its name, its source file's size and modification time, and where its byte code lies),
then the byte code of each (without docstrings). The hook (``hook_entry``) calls :func:`install`
first; if the bundle exists, was made by this interpreter's byte-code version and every source
file still has the size and time recorded, the modules are loaded from it (one read of the
file; each module's byte code unmarshalled and run only when it is imported, as a normal import
would); otherwise nothing happens and the modules are imported as usual. A stale bundle is never used.

Standard library only, and only what the interpreter has loaded before ``main`` (``marshal``,
``os``, ``sys``): this module is on the hook's path.
"""

import marshal
import os
import sys

FORMAT = 2
_LENGTH = 8  # bytes of the index's length, before the index
PACKAGE = "wazuh_ocsf"
# What the hook imports on success, for any class: the bundle holds these and what they import.
ROOTS = (
    "wazuh_ocsf.hook.run", "wazuh_ocsf.config", "wazuh_ocsf.spool.store", "wazuh_ocsf.spool.line", "wazuh_ocsf.mapping",
    "wazuh_ocsf.mapping.routing",  # OCSF_CLASS=auto
)


def bundle_path(package_dir: str) -> str:
    """Where the bundle of this interpreter lives in a package directory."""
    return os.path.join(package_dir, "__pycache__", f"hook-bundle.{sys.implementation.cache_tag}.bin")


def _magic() -> bytes:
    return sys.modules["_frozen_importlib_external"].MAGIC_NUMBER


class _BundleLoader:
    """A meta path finder and loader for the modules of one bundle."""

    def __init__(self, package_dir: str, entries: dict, data: memoryview) -> None:
        self.package_dir = package_dir
        self.entries = entries  # name → (path relative to the package, is a package, offset, length)
        self.data = data  # the whole file: each module's byte code is unmarshalled from it when imported

    def find_spec(self, name, path=None, target=None):
        entry = self.entries.get(name)
        if entry is None:
            return None
        relative, is_package, _offset, _length = entry
        origin = os.path.join(self.package_dir, relative)
        spec = sys.modules["_frozen_importlib"].ModuleSpec(name, self, origin=origin, is_package=is_package)
        spec.has_location = True  # __file__, as a normal import sets it
        if is_package:
            spec.submodule_search_locations = [os.path.dirname(origin)]
        return spec

    def create_module(self, spec):
        return None  # the default module object

    def exec_module(self, module) -> None:
        _relative, _is_package, offset, length = self.entries[module.__name__]
        exec(marshal.loads(self.data[offset : offset + length]), module.__dict__)


def read_index(data) -> tuple:
    """``(format, magic, records)`` of a bundle's bytes; each record ``(name, relative path, is a
    package, source size, source mtime_ns, offset, length)``. Raises ValueError (or EOFError) if malformed."""
    size = int.from_bytes(data[:_LENGTH], "little")
    return marshal.loads(data[_LENGTH : _LENGTH + size])


def install(package_dir: str = "") -> bool:
    """Load the hook's modules from a current bundle of this interpreter; True if installed.

    Never raises: a missing, foreign or stale bundle only means normal imports.
    """
    package_dir = package_dir or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        fd = os.open(bundle_path(package_dir), os.O_RDONLY | os.O_CLOEXEC)
        try:
            data = os.read(fd, os.fstat(fd).st_size + 1)
        finally:
            os.close(fd)
        view = memoryview(data)
        header, magic, records = read_index(view)
        if header != FORMAT or magic != _magic():
            return False
        entries = {}
        for name, relative, is_package, size, mtime_ns, offset, length in records:
            status = os.stat(os.path.join(package_dir, relative))
            if status.st_size != size or status.st_mtime_ns != mtime_ns:
                return False  # a source changed after the bundle was made
            if offset + length > len(data):
                return False  # truncated
            entries[name] = (relative, is_package, offset, length)
    except Exception:  # whatever is wrong with it, the normal imports still work
        return False
    sys.meta_path.insert(0, _BundleLoader(package_dir, entries, view))
    return True


def hook_modules() -> list:
    """The package's modules the hook imports on success for any class, in import order."""
    before = set(sys.modules)
    for root in ROOTS:
        __import__(root)
    mappers = sys.modules["wazuh_ocsf.mapping"].MAPPERS
    [mappers[class_uid] for class_uid in mappers]  # imports each class's module
    return [name for name in sys.modules if name not in before and name.startswith(PACKAGE + ".")]


def build(package_dir: str) -> str:
    """Write the bundle of this interpreter for the package in ``package_dir``; its path."""
    records, blobs = [], []
    for name in hook_modules():
        module = sys.modules[name]
        source = os.path.realpath(module.__file__)
        relative = os.path.relpath(source, os.path.realpath(package_dir))
        if relative.startswith(os.pardir):
            raise ValueError(f"{name} was imported from {source}, not from {package_dir}")
        with open(source, "rb") as handle:
            text = handle.read()
        status = os.stat(source)
        # optimize=2: without docstrings (nothing on the hook path reads them, nor has asserts):
        # about a sixth less byte code to read and unmarshal on every alert.
        code = compile(text, os.path.join(package_dir, relative), "exec", dont_inherit=True, optimize=2)
        is_package = os.path.basename(relative) == "__init__.py"
        records.append((name, relative, is_package, status.st_size, status.st_mtime_ns))
        blobs.append(marshal.dumps(code))
    # The index's offsets depend on its own length: fix the length with placeholder offsets first
    # (marshal writes an int of this size in the same number of bytes).
    placeholder = [(*record, 1 << 30, 1 << 30) for record in records]
    index_size = len(marshal.dumps((FORMAT, _magic(), tuple(placeholder))))
    offset, indexed = _LENGTH + index_size, []
    for record, blob in zip(records, blobs):
        indexed.append((*record, offset, len(blob)))
        offset += len(blob)
    index = marshal.dumps((FORMAT, _magic(), tuple(indexed)))
    if len(index) != index_size:
        raise ValueError("the bundle's index changed size")  # cannot happen: same ints of the same width
    path = bundle_path(package_dir)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    temp = f"{path}.tmp-{os.getpid()}-{os.urandom(4).hex()}"
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "wb") as handle:
        handle.write(len(index).to_bytes(_LENGTH, "little") + index + b"".join(blobs))
    os.replace(temp, path)
    return path


def main(argv: list) -> int:
    """``hook/bundle.py [PACKAGE_DIR]``: build the bundle of the running interpreter."""
    here = os.path.dirname(os.path.abspath(__file__))
    package_dir = os.path.abspath(argv[1] if len(argv) > 1 else os.path.dirname(here))
    if sys.path and os.path.abspath(sys.path[0]) == here:
        del sys.path[0]  # run as a script: its own directory is no place to import from
    sys.path.insert(0, os.path.dirname(package_dir))
    path = build(package_dir)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
