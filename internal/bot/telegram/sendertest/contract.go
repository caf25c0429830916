// Package sendertest holds the contract of the Telegram sender port: what the bot relies on from
// telegram.Sender, checked against it (talking to telegramtest's fake Bot API) and against every sender
// that stands in for it in tests. It is a package of its own because telegramtest cannot import telegram,
// whose tests use telegramtest.
package sendertest

import (
	"context"
	"errors"
	"testing"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"
	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/bot"
	"github.com/skinflip/dmarket-monitor/internal/bot/telegram"
)

// Sender is the bot's port to Telegram (implemented by *telegram.Sender).
type Sender = bot.Messenger

// Subject is a sender under test with a chat it may write to and no pending updates.
type Subject struct {
	Sender Sender
	ChatID int64
}

// Contract checks the behaviour the bot relies on against the subjects newSubject makes: messages of both
// priorities, texts and photos (by URL and uploaded) are accepted with distinct positive message ids; a
// sent message can be edited, and an edit that changes nothing is at most telegram.ErrNotModified;
// callbacks are answered and the command menu is set; with no update pending, a poll answers none.
func Contract(t *testing.T, newSubject func(t *testing.T) Subject) {
	t.Run("messages get distinct ids", func(t *testing.T) { distinctIDs(t, newSubject(t)) })
	t.Run("sent messages can be edited", func(t *testing.T) { edits(t, newSubject(t)) })
	t.Run("callbacks and command menu", func(t *testing.T) { callbacksAndMenu(t, newSubject(t)) })
	t.Run("no pending updates", func(t *testing.T) { noUpdates(t, newSubject(t)) })
}

func keyboard(data string) *tgbotapi.InlineKeyboardMarkup {
	m := tgbotapi.NewInlineKeyboardMarkup(tgbotapi.NewInlineKeyboardRow(tgbotapi.NewInlineKeyboardButtonData("button", data)))
	return &m
}

func distinctIDs(t *testing.T, s Subject) {
	ctx := context.Background()
	seen := map[int]bool{}
	sends := []func() (int, error){
		func() (int, error) {
			return s.Sender.SendText(ctx, telegram.PriorityCommand, s.ChatID, "<b>reply</b> &amp; more", nil)
		},
		func() (int, error) {
			return s.Sender.SendText(ctx, telegram.PriorityNotification, s.ChatID, "offer", keyboard("mute:1"))
		},
		func() (int, error) {
			return s.Sender.SendPhoto(ctx, telegram.PriorityNotification, s.ChatID,
				telegram.Media{URL: "https://img.example/item.png"}, "<i>caption</i>", keyboard("chart:1"))
		},
		func() (int, error) {
			return s.Sender.SendPhoto(ctx, telegram.PriorityCommand, s.ChatID,
				telegram.Media{Name: "chart.png", Bytes: []byte("\x89PNG")}, "chart", nil)
		},
	}
	for i, send := range sends {
		id, err := send()
		require.NoError(t, err, "message %d", i)
		require.Positive(t, id, "message %d", i)
		require.False(t, seen[id], "message %d got the id %d of an earlier one", i, id)
		seen[id] = true
	}
}

func edits(t *testing.T, s Subject) {
	ctx := context.Background()
	id, err := s.Sender.SendText(ctx, telegram.PriorityCommand, s.ChatID, "page 1", keyboard("page:2"))
	require.NoError(t, err)
	require.NoError(t, s.Sender.EditText(ctx, telegram.PriorityCommand, s.ChatID, id, "page 2", keyboard("page:1")))
	err = s.Sender.EditText(ctx, telegram.PriorityCommand, s.ChatID, id, "page 2", keyboard("page:1"))
	require.True(t, err == nil || errors.Is(err, telegram.ErrNotModified), "an unchanged edit failed: %v", err)
}

func callbacksAndMenu(t *testing.T, s Subject) {
	ctx := context.Background()
	require.NoError(t, s.Sender.AnswerCallback(ctx, "callback-1", "Muted.", false))
	require.NoError(t, s.Sender.AnswerCallback(ctx, "callback-2", "", true))
	require.NoError(t, s.Sender.SetCommands(ctx, []telegram.Command{{Name: "offers", Description: "Current offers"},
		{Name: "help", Description: "What the bot does"}}))
}

func noUpdates(t *testing.T, s Subject) {
	ups, err := s.Sender.Updates(context.Background(), 0, 0)
	require.NoError(t, err)
	require.Empty(t, ups)
}
