package e2e

import (
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/bot/telegram/telegramtest"
	"github.com/skinflip/dmarket-monitor/internal/dmarket/dmarkettest"
	"github.com/skinflip/dmarket-monitor/internal/platform/netfaulttest"
	"github.com/skinflip/dmarket-monitor/internal/platform/rabbitmq/rabbitmqtest"
	"github.com/skinflip/dmarket-monitor/internal/platform/redisdb/redisdbtest"
)

// deps are a test's Redis and RabbitMQ, reached through fault proxies, with an AMQP user whose password
// is a secret the binaries must never print.
type deps struct {
	redis, amqp        *netfaulttest.Proxy
	redisURL, amqpURL  string
	amqpUser, amqpPass string
	directAMQP, vhost  string
}

func newDeps(t testing.TB) *deps {
	t.Helper()
	d := &deps{}
	var err error
	d.redis, err = netfaulttest.New("127.0.0.1:6379")
	require.NoError(t, err)
	t.Cleanup(func() { _ = d.redis.Close() })
	d.amqp, err = netfaulttest.New("127.0.0.1:5672")
	require.NoError(t, err)
	t.Cleanup(func() { _ = d.amqp.Close() })

	ru, err := url.Parse(redisdbtest.URL(t))
	require.NoError(t, err)
	ru.Host = d.redis.Addr()
	d.redisURL = ru.String()

	d.directAMQP = rabbitmqtest.NewVhost(t)
	d.vhost = rabbitmqtest.VhostOf(t, d.directAMQP)
	d.amqpUser, d.amqpPass = "e2e-"+randHex(4), "pw"+randHex(12)
	rabbitmqtest.Ctl(t, "add_user", d.amqpUser, d.amqpPass)
	t.Cleanup(func() { rabbitmqtest.Ctl(t, "delete_user", d.amqpUser) })
	rabbitmqtest.Ctl(t, "set_permissions", "-p", d.vhost, d.amqpUser, ".*", ".*", ".*")
	d.amqpURL = (&url.URL{Scheme: "amqp", User: url.UserPassword(d.amqpUser, d.amqpPass),
		Host: d.amqp.Addr(), Path: "/" + d.vhost}).String()
	return d
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func TestBinariesAreReadyOnlyWhileTheirDependenciesAre(t *testing.T) {
	sim := dmarkettest.New(dmarkettest.Config{Titles: 20})
	t.Cleanup(sim.Close)
	_, sec := dmarkettest.DemoKeys()

	tg := telegramtest.New(t, telegramtest.Options{})
	for _, name := range []string{"parser", "worker", "bot"} {
		t.Run(name, func(t *testing.T) {
			d := newDeps(t)
			d.redis.SetRefuse(true)
			d.amqp.SetRefuse(true)
			p, base := serve(t, name, merged(crawlEnv(sim.URL()), map[string]string{
				"REDIS_URL": d.redisURL, "RABBITMQ_URL": d.amqpURL, "LOG_LEVEL": "debug", "PARSER_CYCLE_INTERVAL": "1s",
				"TELEGRAM_API_ENDPOINT": tg.Endpoint(), "TELEGRAM_API_TOKEN": tg.Token(), "TELEGRAM_WHITELIST": "1",
			}))
			awaitStatus(t, p, base+"/healthz", 200, 15*time.Second)
			unhealthy := []string{"redis", "rabbitmq"}
			if name == "bot" { // the bot needs Redis only
				unhealthy = unhealthy[:1]
			}
			awaitUnready(t, p, base, unhealthy...)

			d.redis.SetRefuse(false)
			d.amqp.SetRefuse(false)
			awaitStatus(t, p, base+"/readyz", 200, 30*time.Second)
			code, _ := status(base + "/metrics")
			require.Equal(t, 200, code)

			took, exit := p.stop(t, 10*time.Second)
			require.Zero(t, exit, "clean exit on SIGTERM")
			t.Logf("%s stopped %s after SIGTERM", name, took.Round(time.Millisecond))
			requireNoSecrets(t, p, d.amqpPass, sec, tg.Token())
		})
	}
}

func TestInvalidConfigurationStopsWithOneClearMessage(t *testing.T) {
	tests := []struct {
		name    string
		binary  string
		env     map[string]string
		want    []string
		secrets []string
	}{
		{
			name: "parser, several bad variables", binary: "parser",
			env: map[string]string{"REDIS_URL": "ftp://nowhere", "PARSER_RATE_PER_IP": "-1",
				"LOG_LEVEL": "loud", "DMARKET_GAME_IDS": "a8db,chess"},
			want: []string{"REDIS_URL", "PARSER_RATE_PER_IP", "LOG_LEVEL", "DMARKET_GAME_IDS"},
		},
		{
			name: "worker, wrong redis url with a password", binary: "worker",
			env:     map[string]string{"REDIS_URL": "redis://:Sup3rSecretPw@localhost:notaport/0"},
			want:    []string{"REDIS_URL"},
			secrets: []string{"Sup3rSecretPw"},
		},
		{
			name: "worker, negative ttl", binary: "worker",
			env:  map[string]string{"PRICE_TTL": "-1h", "WORKER_PREFETCH": "zero"},
			want: []string{"PRICE_TTL", "WORKER_PREFETCH"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := start(t, tc.binary, tc.env)
			p.awaitExit(t, 10*time.Second, "on an invalid configuration")
			require.NotZero(t, p.cmd.ProcessState.ExitCode())
			out := p.out.String()
			for _, w := range tc.want {
				require.Contains(t, out, w)
			}
			require.Equal(t, 1, strings.Count(out, "invalid configuration"), out)
			requireNoSecrets(t, p, tc.secrets...)
		})
	}
}
