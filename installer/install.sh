#!/bin/sh
# wazuh-ocsf installer: install, upgrade or uninstall wazuh-ocsf on a Wazuh 4.x manager.
#
#   sudo installer/install.sh --bucket B --region R --account-id A --source-name S --role-arn ARN --external-id-file F
#   sudo installer/install.sh --uninstall [--purge]
#   installer/install.sh --help
#
# This front only finds a Python 3.9 or newer and runs the installer (installer/wazuh_ocsf_installer)
# with it, isolated from PYTHON* variables and user site-packages. First found:
#   $WAZUH_OCSF_INSTALLER_PYTHON
#   <root><home>/framework/python/bin/python3   (the manager's embedded Python, from --root/--home)
#   python3, python3.13 ... python3.9 on PATH
set -eu

case $0 in
    */*) here=${0%/*} ;;
    *) here=. ;;
esac
here=$(cd "$here" && pwd)

home=/var/ossec
root=
previous=
for arg in "$@"; do
    case $previous in
        --home) home=$arg ;;
        --root) root=$arg ;;
    esac
    case $arg in
        --home=*) home=${arg#--home=} ;;
        --root=*) root=${arg#--root=} ;;
    esac
    previous=$arg
done

usable() {
    [ -n "$1" ] && command -v "$1" >/dev/null 2>&1 &&
        "$1" -I -c 'import sys; sys.exit(0 if sys.version_info >= (3, 9) else 1)' >/dev/null 2>&1
}

python=
for candidate in "${WAZUH_OCSF_INSTALLER_PYTHON:-}" "$root$home/framework/python/bin/python3" \
    python3 python3.13 python3.12 python3.11 python3.10 python3.9; do
    if usable "$candidate"; then
        python=$candidate
        break
    fi
done
if [ -z "$python" ]; then
    echo "ERROR: no Python 3.9 or newer found (not the manager's $home/framework/python/bin/python3, not python3):" \
        "set WAZUH_OCSF_INSTALLER_PYTHON to one" >&2
    exit 3
fi

exec "$python" -I -c '
import sys
sys.path[:0] = [sys.argv[1], sys.argv[2]]
from wazuh_ocsf_installer.cli import main
sys.exit(main(sys.argv[3:]))
' "$here" "$(dirname "$here")" "$@"
