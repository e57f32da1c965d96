#!/usr/bin/env bash
# Parses (and format-checks) the Apex under salesforce/ with prettier-plugin-apex, so a syntax error cannot land.
#
#   deploy/check/check-apex.sh                 # every salesforce/**/*.cls and *.trigger
#   deploy/check/check-apex.sh FILE...         # just these files (any path)
#
# Installs the pinned npm devDependencies with `npm ci` into ./node_modules when package-lock.json changed since
# the last install. Exit status: 0 clean, 1 a file is not in prettier's format (run the same command with --write
# instead of --check), 2 a file does not parse (the parser's message names the line), other: tooling failure.
set -euo pipefail
cd "$(dirname "$0")/../.."

stamp=node_modules/.crm-bridge-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  npm ci --no-audit --no-fund --loglevel=error >&2
  echo "$want" > "$stamp"
fi

if [ "$#" -eq 0 ]; then
  set -- "salesforce/**/*.cls" "salesforce/**/*.trigger"
fi
exec node_modules/.bin/prettier --config salesforce/.prettierrc.json --check "$@"
