package rabbitmqtest

import (
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/require"
)

func TestNewVhost(t *testing.T) {
	var vhost string
	t.Run("sub/test with spaces", func(t *testing.T) {
		u := NewVhost(t)
		vhost = VhostOf(t, u)
		require.True(t, strings.HasPrefix(vhost, "test-TestNewVhost_sub_test_with_spaces-"), vhost)
		require.Contains(t, Ctl(t, "list_vhosts", "-q"), vhost)

		conn, err := amqp.DialConfig(u, amqp.Config{Dial: amqp.DefaultDial(5 * time.Second)})
		require.NoError(t, err)
		ch, err := conn.Channel()
		require.NoError(t, err)
		_, err = ch.QueueDeclare("q", true, false, false, false, nil)
		require.NoError(t, err, "the test user has permissions on the vhost")

		require.Equal(t, 1, CloseConnections(t, vhost))
		require.Eventually(t, conn.IsClosed, 10*time.Second, 10*time.Millisecond)
		require.Equal(t, 0, CloseConnections(t, vhost))
	})
	require.NotEmpty(t, vhost)
	require.NotContains(t, Ctl(t, "list_vhosts", "-q"), vhost, "vhost deleted at cleanup")
}

func TestMissingCtl(t *testing.T) {
	t.Setenv(EnvCtl, "/nonexistent/rabbitmqctl")
	_, err := run("list_vhosts")
	require.ErrorContains(t, err, "not found")
}
