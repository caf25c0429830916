#!/bin/sh
# Entry point of the alertmanager service (docker-compose.yml): checks the Telegram settings from
# prod.env, renders alertmanager.yml.in into the container's tmpfs and starts Alertmanager with it.
# Refuses the prod.env placeholder and malformed values, naming the variable but never its value.
set -eu

out=${ALERTMANAGER_OUT:-/tmp/alertmanager}
mkdir -p "$out"
bad=0
token=${ALERT_TELEGRAM_BOT_TOKEN:-}
chat=${ALERT_TELEGRAM_CHAT_ID:-}
case "$token" in
  *change-me*) echo "alertmanager: ALERT_TELEGRAM_BOT_TOKEN still holds the prod.env placeholder: set the real bot token" >&2; bad=1 ;;
  "") echo "alertmanager: ALERT_TELEGRAM_BOT_TOKEN is required (a bot token from @BotFather)" >&2; bad=1 ;;
  *)
    if ! printf '%s' "$token" | grep -Eq '^[0-9]+:[A-Za-z0-9_-]+$'; then
      echo "alertmanager: ALERT_TELEGRAM_BOT_TOKEN is not a bot token (want <digits>:<letters, digits, _ or ->)" >&2; bad=1
    fi ;;
esac
case "$chat" in
  *change-me*) echo "alertmanager: ALERT_TELEGRAM_CHAT_ID still holds the prod.env placeholder: set the chat id" >&2; bad=1 ;;
  *)
    if ! printf '%s' "$chat" | grep -Eq '^-?[0-9]+$'; then
      echo "alertmanager: ALERT_TELEGRAM_CHAT_ID is not a Telegram chat id (an integer; groups are negative)" >&2; bad=1
    fi ;;
esac
[ "$bad" -eq 0 ] || exit 1

# Both values were checked above: they hold no character special to sed or YAML.
umask 077
sed -e "s|__ALERT_TELEGRAM_BOT_TOKEN__|$token|" -e "s|__ALERT_TELEGRAM_CHAT_ID__|$chat|" \
  "${ALERTMANAGER_TEMPLATE:-/etc/alertmanager/alertmanager.yml.in}" > "$out/alertmanager.yml"
if [ -n "${ALERTMANAGER_RENDER_ONLY:-}" ]; then cat "$out/alertmanager.yml"; exit 0; fi
# The image's own CMD is not passed on: it names a configuration file this setup does not use.
exec /bin/alertmanager --config.file="$out/alertmanager.yml" --storage.path=/alertmanager --web.listen-address=:9093
