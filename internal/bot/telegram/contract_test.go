package telegram_test

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/bot/telegram"
	"github.com/skinflip/dmarket-monitor/internal/bot/telegram/sendertest"
	"github.com/skinflip/dmarket-monitor/internal/bot/telegram/telegramtest"
)

// The real sender keeps the sender contract against the fake Bot API.
func TestSenderContract(t *testing.T) {
	sendertest.Contract(t, func(t *testing.T) sendertest.Subject {
		srv := telegramtest.New(t, telegramtest.Options{PerChatInterval: time.Millisecond, GlobalLimit: -1})
		const chat = 42
		srv.AddChat(chat)
		s, err := telegram.New(telegram.Config{Token: srv.Token(), Endpoint: srv.Endpoint(), PerChatInterval: time.Millisecond,
			GlobalPerSecond: 1000}, nil, slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry())
		require.NoError(t, err)
		return sendertest.Subject{Sender: s, ChatID: chat}
	})
}
