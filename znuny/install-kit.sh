#!/bin/bash
# otrs-bouncer's Znuny side in one step, on the Znuny host (as root or as the Znuny user):
# builds the package OTRSBouncer from OTRSBouncer.sopm with Znuny's own Dev::Package::Build,
# installs it with Admin::Package::Install (which creates the dynamic fields, PostMaster
# filters, PostmasterX-Header entries and the web service BounceWebhook) and connects the web
# service with Admin::OTRSBouncer::Setup, to which every option is passed on:
#
#   znuny/install-kit.sh --url https://bouncer.example --webhook-password SECRET [--webhook-token T] \
#       [--asynchronous] [--no-retry] [--agent-login otrs-bouncer --agent-password P --agent-group users]
#   znuny/install-kit.sh --remove      # uninstall the package: removes all of it again
#
# Passwords may also come from BOUNCER_WEBHOOK_PASSWORD, BOUNCER_WEBHOOK_TOKEN and
# BOUNCER_OTRS_PASSWORD (kept out of the process list). See docs/znuny-setup.md.
#   ZNUNY_HOME  the Znuny directory (default /opt/znuny, else /opt/otrs)
#   ZNUNY_USER  the user Znuny runs as (default: the owner of $ZNUNY_HOME/Kernel/Config.pm)
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
HOME_DIR=${ZNUNY_HOME:-$( [ -d /opt/znuny ] && echo /opt/znuny || echo /opt/otrs )}
CONSOLE=bin/znuny.Console.pl
[ -x "$HOME_DIR/$CONSOLE" ] || CONSOLE=bin/otrs.Console.pl
[ -x "$HOME_DIR/$CONSOLE" ] || { echo "no Znuny console in $HOME_DIR (set ZNUNY_HOME)" >&2; exit 1; }
RUN_AS=${ZNUNY_USER:-$(stat -c %U "$HOME_DIR/Kernel/Config.pm")}

console() {  # the Znuny console as its own user; the BOUNCER_* passwords travel in the environment
  if [ "$(id -un)" = "$RUN_AS" ]; then (cd "$HOME_DIR" && "$CONSOLE" "$@")
  else (cd "$HOME_DIR" && runuser -u "$RUN_AS" -- env \
        ${BOUNCER_WEBHOOK_PASSWORD+BOUNCER_WEBHOOK_PASSWORD="$BOUNCER_WEBHOOK_PASSWORD"} \
        ${BOUNCER_WEBHOOK_TOKEN+BOUNCER_WEBHOOK_TOKEN="$BOUNCER_WEBHOOK_TOKEN"} \
        ${BOUNCER_OTRS_PASSWORD+BOUNCER_OTRS_PASSWORD="$BOUNCER_OTRS_PASSWORD"} "$CONSOLE" "$@"); fi
}
installed() { console Admin::Package::List 2>/dev/null | grep -q "Name:.*OTRSBouncer"; }

if [ "${1:-}" = --remove ]; then
  if installed; then console Admin::Package::Uninstall OTRSBouncer; else echo "OTRSBouncer is not installed"; fi
  exit 0
fi

WORK=$(mktemp -d); trap 'rm -rf "$WORK"' EXIT
cp -r "$HERE/OTRSBouncer.sopm" "$HERE/Kernel" "$HERE/var" "$WORK/"
chmod -R a+rX "$WORK"; chown -R "$RUN_AS" "$WORK" 2>/dev/null || true
console Dev::Package::Build --module-directory "$WORK" "$WORK/OTRSBouncer.sopm" "$WORK"
OPM=$(ls "$WORK"/OTRSBouncer-*.opm)
INSTALLED=$(console Admin::Package::List 2>/dev/null | awk '/Name:.*OTRSBouncer/{f=1} f&&/Version:/{print $NF; exit}')
if [ -z "$INSTALLED" ]; then
  console Admin::Package::Install "$OPM"
elif [ "$OPM" != "$WORK/OTRSBouncer-$INSTALLED.opm" ]; then
  console Admin::Package::Upgrade "$OPM"
else
  echo "OTRSBouncer $INSTALLED is installed already; connecting it again"
fi
console Admin::OTRSBouncer::Setup "$@"
