#!/usr/bin/env bash
# Checks for the system tools the test suite runs for real and, on Debian as root, installs what
# is missing. Elsewhere it stops with the exact install command. It never skips silently.
set -euo pipefail

missing_pkgs=()
need() { # need <command> <debian package>
  if ! command -v "$1" >/dev/null 2>&1; then
    missing_pkgs+=("$2")
  fi
}
need psql postgresql-client
need pg_dump postgresql-client
need sqlite3 sqlite3
need mariadbd mariadb-server
need mariadb mariadb-client
need mariadb-dump mariadb-client
need gzip gzip
need tar tar
need sha256sum coreutils
need jq jq
need shellcheck shellcheck
need curl curl
need setpriv util-linux
# The evidence report's page is rendered in a real headless browser by its test.
need chromium chromium
if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
  missing_pkgs+=(postgresql)
fi

# Debian 12's packaged AWS CLI (2.9.19, /usr/bin/aws): the oldest v2 of the CLI matrix, which the
# backup script must refuse cleanly (it cannot send If-None-Match).
old_cli_version=''
if [ -x /usr/bin/aws ]; then old_cli_version=$(/usr/bin/aws --version 2>&1 || true); fi
if [[ $old_cli_version != aws-cli/2.* ]]; then
  missing_pkgs+=(awscli)
fi

python_pkgs=()
command -v aws >/dev/null 2>&1 || python_pkgs+=(awscli)
command -v moto_server >/dev/null 2>&1 || python_pkgs+=("moto[server]")
command -v cfn-lint >/dev/null 2>&1 || python_pkgs+=(cfn-lint)

if [ "${#missing_pkgs[@]}" -gt 0 ]; then
  # De-duplicate while keeping order.
  mapfile -t missing_pkgs < <(printf '%s\n' "${missing_pkgs[@]}" | awk '!seen[$0]++')
  install_cmd="apt-get update && apt-get install -y --no-install-recommends ${missing_pkgs[*]}"
  if [ -f /etc/debian_version ] && [ "$(id -u)" = 0 ]; then
    echo "ensure-test-tools: installing ${missing_pkgs[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing_pkgs[@]}" >/dev/null
  else
    echo "ensure-test-tools: missing system packages: ${missing_pkgs[*]}" >&2
    echo "install them with: sudo sh -c '$install_cmd'" >&2
    exit 1
  fi
fi

if [ "${#python_pkgs[@]}" -gt 0 ]; then
  if [ -f /etc/debian_version ] && [ "$(id -u)" = 0 ] && command -v pip3 >/dev/null 2>&1 && pip3 install -q "${python_pkgs[@]}" 2>/dev/null; then
    echo "ensure-test-tools: installed ${python_pkgs[*]} with pip" >&2
  elif [ -f /etc/debian_version ] && [ "$(id -u)" = 0 ]; then
    # Debian's own packages when PyPI is out of reach.
    debs=()
    for p in "${python_pkgs[@]}"; do
      case "$p" in
        awscli) debs+=(awscli) ;;
        "moto[server]") debs+=(python3-moto python3-flask python3-flask-cors) ;;
        cfn-lint) debs+=(cfn-lint) ;;
      esac
    done
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${debs[@]}" >/dev/null
  else
    echo "ensure-test-tools: missing: ${python_pkgs[*]}" >&2
    echo "install them with: pip3 install ${python_pkgs[*]}" >&2
    exit 1
  fi
fi

for tool in aws moto_server psql sqlite3 mariadbd shellcheck chromium; do
  command -v "$tool" >/dev/null 2>&1 || { echo "ensure-test-tools: $tool is still missing after install" >&2; exit 1; }
done
# The AWS CLI the tests run first on PATH must send S3 conditional writes (If-None-Match).
# (Read the whole skeleton first: grep -q would stop early, and pipefail would count the CLI's SIGPIPE.)
skeleton=$(aws s3api complete-multipart-upload --generate-cli-skeleton input 2>/dev/null || true)
if [[ $skeleton != *IfNoneMatch* ]]; then
  echo "ensure-test-tools: the AWS CLI on PATH ($(aws --version 2>&1)) cannot send If-None-Match; install a current one first on PATH: pip3 install --upgrade awscli" >&2
  exit 1
fi
# The tests run moto through test/support/moto_front.py with python3: moto must import there.
python3 -c 'import moto.server, moto.s3.responses' 2>/dev/null || {
  echo "ensure-test-tools: python3 cannot import moto (moto_server runs under another interpreter); install it with: python3 -m pip install 'moto[server]'" >&2
  exit 1
}
echo "ensure-test-tools: all test tools present ($(aws --version 2>&1 | cut -d' ' -f1), $(psql --version | awk '{print $NF}'), sqlite3 $(sqlite3 --version | cut -d' ' -f1), $(mariadbd --version | awk '{print $3}'))" >&2
