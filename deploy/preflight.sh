#!/bin/sh
# Start-up check of the compose stack (the `preflight` service of docker-compose.yml; every other service
# waits for it to succeed): refuses to start anything while a secret still holds the prod.env placeholder
# change-me or a required one is empty. Names the variables, never their values.
#
# The same check without Docker, e.g. before `docker compose up` or in CI:
#   env -i sh -c 'set -a; . ./prod.env; [ -f prod.local.env ] && . ./prod.local.env; sh deploy/preflight.sh'
set -eu

# Secrets every deployment needs; DMarket keys and the proxy list are optional.
required="REDIS_PASSWORD RABBITMQ_PASSWORD GRAFANA_ADMIN_PASSWORD TELEGRAM_API_TOKEN ALERT_TELEGRAM_BOT_TOKEN ALERT_TELEGRAM_CHAT_ID"
optional="DMARKET_PUBLIC_KEY DMARKET_SECRET_KEY"

bad=""
for name in $required $optional; do
  eval "value=\${$name:-}"
  case "$value" in
    *change-me* | *CHANGE-ME*) bad="$bad $name" ;;
    "") case " $required " in *" $name "*) bad="$bad $name" ;; esac ;;
  esac
done
if [ -n "$bad" ]; then
  echo "preflight: refusing to start: still the prod.env placeholder change-me, or empty:" >&2
  for name in $bad; do echo "  $name" >&2; done
  echo "Set the real values outside git: export them in the shell (they win over the env file), or put them in" >&2
  echo "the git-ignored prod.local.env and run: docker compose --env-file prod.env --env-file prod.local.env up -d" >&2
  exit 1
fi
echo "preflight: no placeholder left"
