package e2e

import (
	"testing"

	"github.com/skinflip/dmarket-monitor/internal/bot/telegram/sendertest"
)

// The counting Telegram of the churn test keeps the sender contract.
func TestCountingMessengerSenderContract(t *testing.T) {
	sendertest.Contract(t, func(*testing.T) sendertest.Subject {
		return sendertest.Subject{Sender: &countingMessenger{}, ChatID: 1}
	})
}
