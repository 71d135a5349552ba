"""wazuh-ocsf: the Python side of the ``custom-wazuh-ocsf`` integration (see the wrapper).

Run as ``python3 -I -S custom-wazuh-ocsf.py <integratord argv>``: without site-packages, so it
puts the ``wazuh_ocsf`` package on ``sys.path`` itself: ``<home>/wazuh-ocsf/lib`` where the
installer copies it, else the directory above ``integrations/`` (a source checkout). Then it
runs ``wazuh_ocsf.hook.main`` and exits with its code. Python 3.9+, standard library only.
"""

import os
import sys
import time

ERR_INSTALL = 14  # same as wazuh_ocsf.hook.ERR_INSTALL, which cannot be imported when this fails


def _run() -> int:
    home = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    lib = os.path.join(home, "wazuh-ocsf", "lib")
    root = lib if os.path.isdir(lib) else home
    sys.path.append(root)  # after the standard library: nothing in root can shadow it
    try:
        from wazuh_ocsf import hook_bundle

        hook_bundle.install()  # the byte code the installer bundled, if current; else normal imports
        from wazuh_ocsf.hook import main
    except ImportError as exc:
        message = (
            f"wazuh-ocsf: ERROR: cannot import wazuh_ocsf from {root}: {exc}; "
            f"reinstall wazuh-ocsf (exit {ERR_INSTALL})"
        )
        log = os.path.join(os.environ.get("WAZUH_OCSF_WAZUH_HOME") or home, "logs", "integrations.log")
        try:
            with open(log, "a", encoding="utf-8") as handle:
                handle.write(f"{time.strftime('%Y %b %d %H:%M:%S')} {message}\n")
        except OSError:
            pass
        sys.stderr.write(message + "\n")  # integratord puts our last output line in ossec.log
        return ERR_INSTALL
    return main(sys.argv)


if __name__ == "__main__":
    code = _run()
    # Exit without the interpreter's teardown (freeing every module and object one by one costs
    # a quarter of a bare start): everything the hook writes goes through os.write, and the
    # standard streams are flushed here.
    for stream in (sys.stdout, sys.stderr):
        try:  # noqa: SIM105 -- contextlib is an import the hook need not pay for
            stream.flush()
        except (OSError, ValueError, AttributeError):
            pass
    os._exit(code)
