package telegramtest

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"
	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/platform/clock/clocktest"
)

func TestParseHTML(t *testing.T) {
	cases := []struct {
		name, in, visible, errPart string
	}{
		{name: "plain", in: "hello", visible: "hello"},
		{name: "bold and link", in: `<b>+1.00%</b> <a href="https://x.test/?a=1&amp;b=2">AK &lt;3&gt; &amp; &quot;q&quot;</a>`, visible: `+1.00% AK <3> & "q"`},
		{name: "numeric entities", in: "&#9733;&#x2122;", visible: "★™"},
		{name: "nested", in: "<b><i>x</i></b>", visible: "x"},
		{name: "spoiler span", in: `<span class="tg-spoiler">s</span>`, visible: "s"},
		{name: "unknown tag", in: "<div>x</div>", errPart: "unsupported start tag"},
		{name: "unclosed", in: "<b>x", errPart: "can't find end tag"},
		{name: "crossed", in: "<b><i>x</b></i>", errPart: "can't find start tag"},
		{name: "bare less-than", in: "a < b", errPart: "start tag"},
		{name: "bare greater-than", in: "a > b", errPart: "unexpected '>'"},
		{name: "bare ampersand", in: "AT&T", errPart: "unescaped '&'"},
		{name: "unknown entity", in: "&nbsp;", errPart: "unsupported entity"},
		{name: "a without href", in: "<a>x</a>", errPart: "must have attribute"},
		{name: "bad attribute", in: `<b class="x">y</b>`, errPart: "unsupported attribute"},
		{name: "unquoted attribute", in: `<a href=x>y</a>`, errPart: "malformed attributes"},
		{name: "unescaped in href", in: `<a href="a&b">y</a>`, errPart: "bad attribute value"},
		{name: "open bracket only", in: "<b", errPart: "unclosed start tag"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseHTML(tc.in)
			if tc.errPart != "" {
				require.ErrorContains(t, err, tc.errPart)
				require.Contains(t, err.Error(), "can't parse entities")
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.visible, got)
		})
	}
}

func TestUTF16Len(t *testing.T) {
	require.Equal(t, 3, UTF16Len("abc"))
	require.Equal(t, 1, UTF16Len("★"))
	require.Equal(t, 2, UTF16Len("📈"))
}

// post calls method on s with form values and decodes the answer.
func post(t *testing.T, s *Server, token, method string, form url.Values) (int, map[string]any) {
	t.Helper()
	resp, err := http.PostForm(s.URL()+"/bot"+token+"/"+method, form)
	require.NoError(t, err)
	defer resp.Body.Close()
	var body map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	return resp.StatusCode, body
}

func TestServerValidation(t *testing.T) {
	s := New(t, Options{PerChatInterval: -1, GlobalLimit: -1})
	s.AddChat(1)
	s.AddChat(2)
	s.Block(2)
	s.RefusePhotoURL("https://img.test/bad.png")
	cases := []struct {
		name, token, method string
		form                url.Values
		status              int
		desc                string
	}{
		{name: "wrong token", token: "1:bad", method: "getMe", status: 401, desc: "Unauthorized"},
		{name: "getMe", method: "getMe", status: 200},
		{name: "unknown method", method: "frobnicate", status: 404},
		{name: "chat not found", method: "sendMessage", form: url.Values{"chat_id": {"9"}, "text": {"x"}}, status: 400, desc: "chat not found"},
		{name: "blocked", method: "sendMessage", form: url.Values{"chat_id": {"2"}, "text": {"x"}}, status: 403, desc: "blocked"},
		{name: "empty text", method: "sendMessage", form: url.Values{"chat_id": {"1"}, "text": {""}}, status: 400, desc: "text is empty"},
		{name: "bad html", method: "sendMessage", form: url.Values{"chat_id": {"1"}, "text": {"a<b"}, "parse_mode": {"HTML"}}, status: 400, desc: "can't parse entities"},
		{name: "too long", method: "sendMessage", form: url.Values{"chat_id": {"1"}, "text": {strings.Repeat("a", 4097)}}, status: 400, desc: "message is too long"},
		{name: "too long in utf16", method: "sendMessage", form: url.Values{"chat_id": {"1"}, "text": {strings.Repeat("📈", 2049)}}, status: 400, desc: "message is too long"},
		{name: "limit after entities", method: "sendMessage", form: url.Values{"chat_id": {"1"}, "text": {"<b>" + strings.Repeat("&amp;", 4096) + "</b>"}, "parse_mode": {"HTML"}}, status: 200},
		{name: "caption too long", method: "sendPhoto", form: url.Values{"chat_id": {"1"}, "photo": {"https://img.test/a.png"}, "caption": {strings.Repeat("a", 1025)}}, status: 400, desc: "caption is too long"},
		{name: "refused url", method: "sendPhoto", form: url.Values{"chat_id": {"1"}, "photo": {"https://img.test/bad.png"}}, status: 400, desc: "wrong file identifier/HTTP URL specified"},
		{name: "not a url", method: "sendPhoto", form: url.Values{"chat_id": {"1"}, "photo": {"xyz"}}, status: 400, desc: "wrong file identifier"},
		{name: "callback data too long", method: "sendMessage", form: url.Values{"chat_id": {"1"}, "text": {"x"}, "reply_markup": {`{"inline_keyboard":[[{"text":"a","callback_data":"` + strings.Repeat("x", 65) + `"}]]}`}}, status: 400, desc: "BUTTON_DATA_INVALID"},
		{name: "button without action", method: "sendMessage", form: url.Values{"chat_id": {"1"}, "text": {"x"}, "reply_markup": {`{"inline_keyboard":[[{"text":"a"}]]}`}}, status: 400, desc: "exactly one"},
		{name: "edit missing", method: "editMessageText", form: url.Values{"chat_id": {"1"}, "message_id": {"999"}, "text": {"x"}}, status: 400, desc: "message to edit not found"},
		{name: "delete missing", method: "deleteMessage", form: url.Values{"chat_id": {"1"}, "message_id": {"999"}}, status: 400, desc: "message to delete not found"},
		{name: "answer callback without id", method: "answerCallbackQuery", status: 400, desc: "query ID is invalid"},
		{name: "album of one", method: "sendMediaGroup", form: url.Values{"chat_id": {"1"}, "media": {`[{"type":"photo","media":"https://img.test/a.png"}]`}}, status: 400, desc: "wrong number of media"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			token := tc.token
			if token == "" {
				token = s.Token()
			}
			status, body := post(t, s, token, tc.method, tc.form)
			require.Equal(t, tc.status, status, body)
			if tc.desc != "" {
				require.Contains(t, body["description"], tc.desc)
			}
		})
	}
}

func TestServerFloodControl(t *testing.T) {
	clk := clocktest.NewFake(time.Unix(1_700_000_000, 0))
	s := New(t, Options{Clock: clk, GlobalLimit: 2})
	for _, id := range []int64{1, 2, 3} {
		s.AddChat(id)
	}
	send := func(chat string) (int, map[string]any) {
		return post(t, s, s.Token(), "sendMessage", url.Values{"chat_id": {chat}, "text": {"x"}})
	}
	status, _ := send("1")
	require.Equal(t, 200, status)
	status, body := send("1")
	require.Equal(t, 429, status)
	require.Equal(t, map[string]any{"retry_after": float64(1)}, body["parameters"])
	status, _ = send("2")
	require.Equal(t, 200, status)
	status, _ = send("3")
	require.Equal(t, 429, status, "global limit of 2 per second")
	clk.Advance(time.Second)
	status, _ = send("1")
	require.Equal(t, 200, status)
}

func TestServerUpdatesAndEdits(t *testing.T) {
	s := New(t, Options{PerChatInterval: -1})
	id := s.SendText(7, "/start now")
	cb := s.PressButton(7, 0, "p:1")
	require.Equal(t, 2, s.PendingUpdates())
	status, body := post(t, s, s.Token(), "getUpdates", url.Values{"offset": {"0"}, "timeout": {"0"}})
	require.Equal(t, 200, status)
	ups := body["result"].([]any)
	require.Len(t, ups, 2)
	msg := ups[0].(map[string]any)["message"].(map[string]any)
	require.Equal(t, "/start now", msg["text"])
	require.Equal(t, "bot_command", msg["entities"].([]any)[0].(map[string]any)["type"])
	require.Equal(t, cb, ups[1].(map[string]any)["callback_query"].(map[string]any)["id"])

	// Confirming with an offset drops them; a long poll then waits for the next update.
	done := make(chan []any)
	go func() {
		_, body := post(t, s, s.Token(), "getUpdates", url.Values{"offset": {itoa(id + 2)}, "timeout": {"10"}})
		done <- body["result"].([]any)
	}()
	require.Eventually(t, func() bool { return s.PendingUpdates() == 0 }, 5*time.Second, 5*time.Millisecond)
	s.SendText(7, "hello")
	select {
	case got := <-done:
		require.Len(t, got, 1)
	case <-time.After(5 * time.Second):
		t.Fatal("long poll did not return the new update")
	}

	status, body = post(t, s, s.Token(), "sendMessage", url.Values{"chat_id": {"7"}, "text": {"a"}})
	require.Equal(t, 200, status)
	mid := itoa(int(body["result"].(map[string]any)["message_id"].(float64)))
	status, body = post(t, s, s.Token(), "editMessageText", url.Values{"chat_id": {"7"}, "message_id": {mid}, "text": {"a"}})
	require.Equal(t, 400, status)
	require.Contains(t, body["description"], "message is not modified")
	status, _ = post(t, s, s.Token(), "editMessageText", url.Values{"chat_id": {"7"}, "message_id": {mid}, "text": {"b"}})
	require.Equal(t, 200, status)
	status, _ = post(t, s, s.Token(), "editMessageReplyMarkup", url.Values{"chat_id": {"7"}, "message_id": {mid}, "reply_markup": {`{"inline_keyboard":[[{"text":"a","callback_data":"x"}]]}`}})
	require.Equal(t, 200, status)
	n, _ := s.Message(7, atoi(mid))
	require.Equal(t, "b", n.Text)
	require.Equal(t, "x", *n.Markup.InlineKeyboard[0][0].CallbackData)
	status, _ = post(t, s, s.Token(), "deleteMessage", url.Values{"chat_id": {"7"}, "message_id": {mid}})
	require.Equal(t, 200, status)
	_, ok := s.Message(7, atoi(mid))
	require.False(t, ok)

	s.Fail("sendMessage", 1, 502, "Bad Gateway", 0)
	status, _ = post(t, s, s.Token(), "sendMessage", url.Values{"chat_id": {"7"}, "text": {"a"}})
	require.Equal(t, 502, status)
	status, _ = post(t, s, s.Token(), "sendMessage", url.Values{"chat_id": {"7"}, "text": {"a"}})
	require.Equal(t, 200, status)
	s.Fail("sendMessage", -1, 500, "Internal", 0)
	s.Recover("sendMessage")
	status, _ = post(t, s, s.Token(), "sendMessage", url.Values{"chat_id": {"7"}, "text": {"a"}})
	require.Equal(t, 200, status)
	require.Len(t, s.Sent(7), 3)
	require.Len(t, s.CallsOf("sendMessage", false), 4)
}

func itoa(n int) string { return strconv.Itoa(n) }

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

func TestServerUploadsAndAlbums(t *testing.T) {
	s := New(t, Options{PerChatInterval: -1, GlobalLimit: -1})
	s.AddChat(1)
	api := &tgbotapi.BotAPI{Token: s.Token(), Client: http.DefaultClient}
	api.SetAPIEndpoint(s.Endpoint())

	ph := tgbotapi.NewPhoto(1, tgbotapi.FileBytes{Name: "a.png", Bytes: []byte("PNG")})
	ph.Caption, ph.ParseMode = "<b>c</b>", "HTML"
	_, err := api.Send(ph)
	require.NoError(t, err)
	_, err = api.Send(tgbotapi.NewVideo(1, tgbotapi.FileURL("https://img.test/v.mp4")))
	require.NoError(t, err)
	_, err = api.Send(tgbotapi.NewAnimation(1, tgbotapi.FileBytes{Name: "a.gif", Bytes: []byte("GIF")}))
	require.NoError(t, err)
	msgs, err := api.SendMediaGroup(tgbotapi.NewMediaGroup(1, []any{
		tgbotapi.NewInputMediaPhoto(tgbotapi.FileBytes{Name: "1.png", Bytes: []byte("1")}),
		tgbotapi.NewInputMediaPhoto(tgbotapi.FileURL("https://img.test/2.png")),
	}))
	require.NoError(t, err)
	require.Len(t, msgs, 2)

	sent := s.Sent(1)
	require.Len(t, sent, 4)
	require.Equal(t, "upload:a.png", sent[0].Media)
	require.Equal(t, []byte("PNG"), sent[0].Upload)
	require.Equal(t, "<b>c</b>", sent[0].Caption)
	require.Equal(t, "https://img.test/v.mp4", sent[1].Media)
	require.Equal(t, []byte("GIF"), sent[2].Upload)
	require.Equal(t, []AlbumItem{{Type: "photo", Media: "upload:1.png"}, {Type: "photo", Media: "https://img.test/2.png"}}, sent[3].Album)
	require.Equal(t, msgs[0].MessageID, sent[3].SentID)

	// Album problems: a refused URL, a caption with bad HTML, a missing attachment.
	s.RefusePhotoURL("")
	_, err = api.SendMediaGroup(tgbotapi.NewMediaGroup(1, []any{
		tgbotapi.NewInputMediaPhoto(tgbotapi.FileURL("https://img.test/1.png")),
		tgbotapi.NewInputMediaPhoto(tgbotapi.FileURL("https://img.test/2.png")),
	}))
	require.ErrorContains(t, err, "wrong file identifier")
	status, body := post(t, s, s.Token(), "sendMediaGroup", url.Values{"chat_id": {"1"}, "media": {`[{"type":"photo","media":"attach://nope"},{"type":"photo","media":"attach://nope2"}]`}})
	require.Equal(t, 400, status, body)
	status, _ = post(t, s, s.Token(), "sendMediaGroup", url.Values{"chat_id": {"1"}, "media": {`not json`}})
	require.Equal(t, 400, status)

	// Per-chat failures and failing long polls.
	s.AddChat(2)
	s.FailChat(2, "sendMessage", 1, 429, "Too Many Requests: retry after 3", 3)
	status, body = post(t, s, s.Token(), "sendMessage", url.Values{"chat_id": {"2"}, "text": {"x"}})
	require.Equal(t, 429, status)
	require.Equal(t, map[string]any{"retry_after": float64(3)}, body["parameters"])
	status, _ = post(t, s, s.Token(), "sendMessage", url.Values{"chat_id": {"1"}, "text": {"x"}})
	require.Equal(t, 200, status, "other chats are not affected")
	s.Fail("getUpdates", 1, 502, "Bad Gateway", 0)
	status, _ = post(t, s, s.Token(), "getUpdates", nil)
	require.Equal(t, 502, status)
	require.Len(t, s.CallsOf("getUpdates", false), 1)
	status, _ = post(t, s, s.Token(), "sendMessage", url.Values{"chat_id": {"1"}, "text": {"x"}, "parse_mode": {"Markdown"}})
	require.Equal(t, 400, status)
	require.NotEmpty(t, s.URL())
}

func TestServerCommands(t *testing.T) {
	cases := []struct {
		name     string
		commands string
		scope    string
		wantErr  string
	}{
		{name: "valid", commands: `[{"command":"offers","description":"Current offers"},{"command":"set_limit","description":"Profit limit"}]`},
		{name: "empty list clears", commands: `[]`},
		{name: "default scope", commands: `[{"command":"help","description":"Help"}]`, scope: `{"type":"default"}`},
		{name: "other scope", commands: `[{"command":"help","description":"Help"}]`, scope: `{"type":"all_private_chats"}`, wantErr: "scope"},
		{name: "upper case", commands: `[{"command":"Offers","description":"x"}]`, wantErr: "BOT_COMMAND_INVALID"},
		{name: "slash", commands: `[{"command":"/offers","description":"x"}]`, wantErr: "BOT_COMMAND_INVALID"},
		{name: "too long", commands: `[{"command":"` + strings.Repeat("a", 33) + `","description":"x"}]`, wantErr: "BOT_COMMAND_INVALID"},
		{name: "twice", commands: `[{"command":"a","description":"x"},{"command":"a","description":"y"}]`, wantErr: "BOT_COMMAND_INVALID"},
		{name: "no description", commands: `[{"command":"a","description":""}]`, wantErr: "DESCRIPTION_INVALID"},
		{name: "long description", commands: `[{"command":"a","description":"` + strings.Repeat("é", 257) + `"}]`, wantErr: "DESCRIPTION_INVALID"},
		{name: "not json", commands: `offers`, wantErr: "parse"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := New(t, Options{})
			form := url.Values{"commands": {tc.commands}}
			if tc.scope != "" {
				form.Set("scope", tc.scope)
			}
			status, body := post(t, s, s.Token(), "setMyCommands", form)
			if tc.wantErr != "" {
				require.Equal(t, 400, status)
				require.Contains(t, body["description"], tc.wantErr)
				require.Empty(t, s.Commands())
				return
			}
			require.Equal(t, 200, status)
			var want []tgbotapi.BotCommand
			require.NoError(t, json.Unmarshal([]byte(tc.commands), &want))
			require.Equal(t, want, s.Commands())
			status, body = post(t, s, s.Token(), "getMyCommands", url.Values{})
			require.Equal(t, 200, status)
			require.Len(t, body["result"], len(want))
		})
	}
}
