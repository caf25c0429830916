// Package telegramtest owns a fake Telegram Bot API server for tests. It routes /bot<token>/<method>,
// validates requests the way Telegram does (HTML entities, text and caption limits, known chats, flood
// control), lets tests inject updates and failures, and records every call for assertions.
package telegramtest

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"

	"github.com/skinflip/dmarket-monitor/internal/platform/clock"
)

// Telegram's limits, in UTF-16 code units after entity parsing.
const (
	// MaxTextLen is the longest message text.
	MaxTextLen = 4096
	// MaxCaptionLen is the longest media caption.
	MaxCaptionLen = 1024
	// MaxCallbackDataLen is the longest callback data of an inline button, in bytes.
	MaxCallbackDataLen = 64
)

// Options configure a Server. Zero values take Telegram's defaults.
type Options struct {
	// Token is the bot token the server accepts; default "123456:TEST-token".
	Token string
	// Clock drives flood control; default the wall clock.
	Clock clock.Clock
	// PerChatInterval is the minimum time between two messages to one chat; default 1s. Negative disables.
	PerChatInterval time.Duration
	// GlobalLimit is the most messages accepted per GlobalWindow over all chats; default 30. Negative
	// disables.
	GlobalLimit int
	// GlobalWindow is the window of GlobalLimit; default 1s.
	GlobalWindow time.Duration
}

// Call is one recorded request.
type Call struct {
	// Method is the Bot API method name.
	Method string
	// ChatID is the target chat, 0 when the method has none.
	ChatID int64
	// MessageID is the edited or deleted message, 0 when none.
	MessageID int
	// Text is the text parameter as sent (HTML included).
	Text string
	// Caption is the caption parameter as sent.
	Caption string
	// ParseMode is the parse_mode parameter.
	ParseMode string
	// Markup is the decoded inline keyboard, nil when none.
	Markup *tgbotapi.InlineKeyboardMarkup
	// Media is the photo/video/animation parameter: a URL, or "upload:<file name>" for an upload.
	Media string
	// Upload is the uploaded file content, if any.
	Upload []byte
	// Album holds the media of a sendMediaGroup call.
	Album []AlbumItem
	// CallbackID is the callback_query_id of answerCallbackQuery.
	CallbackID string
	// SentID is the id of the message a successful send created (the first one of an album).
	SentID int
	// Status is the HTTP status answered.
	Status int
	// Description is the error description answered, empty on success.
	Description string
	// At is when the server received the call (server clock).
	At time.Time
}

// AlbumItem is one medium of a recorded media group.
type AlbumItem struct {
	// Type is "photo", "video", ...
	Type string
	// Media is the URL or "upload:<name>".
	Media string
	// Caption is the item's caption.
	Caption string
}

// Message is a message the server holds (sent by the bot), as last edited.
type Message struct {
	// ID is the message id.
	ID int
	// ChatID is the chat.
	ChatID int64
	// Text is the text or caption as sent.
	Text string
	// Markup is the current inline keyboard.
	Markup *tgbotapi.InlineKeyboardMarkup
}

type failure struct {
	status     int
	desc       string
	retryAfter int
	remaining  int // < 0: forever
}

// Server is a fake Telegram Bot API server. It is safe for concurrent use.
type Server struct {
	opts Options
	srv  *httptest.Server

	mu           sync.Mutex
	calls        []Call
	updates      []json.RawMessage
	updateIDs    []int
	nextUpdateID int
	newUpdate    chan struct{}
	chats        map[int64]bool
	blocked      map[int64]bool
	refusedURLs  map[string]bool
	refuseAllURL bool
	failures     map[string]*failure
	lastPerChat  map[int64]time.Time
	window       []time.Time
	nextMsgID    int
	messages     map[int64]map[int]*Message
	nextCBID     int
	commands     []tgbotapi.BotCommand
}

// New starts a Server that is closed when the test ends.
func New(t testing.TB, opts Options) *Server {
	t.Helper()
	s := NewServer(opts)
	t.Cleanup(s.Close)
	return s
}

// NewServer starts a Server; the caller closes it.
func NewServer(opts Options) *Server {
	if opts.Token == "" {
		opts.Token = "123456:TEST-token"
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	if opts.PerChatInterval == 0 {
		opts.PerChatInterval = time.Second
	}
	if opts.GlobalLimit == 0 {
		opts.GlobalLimit = 30
	}
	if opts.GlobalWindow <= 0 {
		opts.GlobalWindow = time.Second
	}
	s := &Server{
		opts:         opts,
		nextUpdateID: 1000,
		newUpdate:    make(chan struct{}),
		chats:        map[int64]bool{},
		blocked:      map[int64]bool{},
		refusedURLs:  map[string]bool{},
		failures:     map[string]*failure{},
		lastPerChat:  map[int64]time.Time{},
		nextMsgID:    1,
		messages:     map[int64]map[int]*Message{},
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// Commands returns the bot's command list as last set with setMyCommands (the "/" menu users see).
func (s *Server) Commands() []tgbotapi.BotCommand {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]tgbotapi.BotCommand{}, s.commands...)
}

// commandRe is what Telegram accepts as a command name: 1 to 32 lowercase letters, digits and underscores.
var commandRe = regexp.MustCompile(`^[a-z0-9_]{1,32}$`)

// setMyCommands validates and stores a command list as Telegram does: at most 100 commands, each named
// by commandRe, described in 1 to 256 characters, no name twice. Only the default scope is supported.
func (s *Server) setMyCommands(form map[string]string) (any, *apiError) {
	if scope := form["scope"]; scope != "" && !strings.Contains(scope, `"default"`) {
		return nil, &apiError{400, "Bad Request: only the default command scope is supported by this fake", 0}
	}
	var cmds []tgbotapi.BotCommand
	if err := json.Unmarshal([]byte(form["commands"]), &cmds); err != nil {
		return nil, &apiError{400, "Bad Request: can't parse commands JSON object", 0}
	}
	if len(cmds) > 100 {
		return nil, &apiError{400, "Bad Request: too many commands", 0}
	}
	seen := map[string]bool{}
	for _, c := range cmds {
		if !commandRe.MatchString(c.Command) || seen[c.Command] {
			return nil, &apiError{400, "Bad Request: BOT_COMMAND_INVALID", 0}
		}
		if n := UTF16Len(c.Description); n == 0 || n > 256 {
			return nil, &apiError{400, "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID", 0}
		}
		seen[c.Command] = true
	}
	s.mu.Lock()
	s.commands = cmds
	s.mu.Unlock()
	return true, nil
}

// Token is the accepted bot token.
func (s *Server) Token() string { return s.opts.Token }

// URL is the server's base URL.
func (s *Server) URL() string { return s.srv.URL }

// Endpoint is the TELEGRAM_API_ENDPOINT format for this server.
func (s *Server) Endpoint() string { return s.srv.URL + "/bot%s/%s" }

// AddChat makes a chat known (as if its user had written to the bot).
func (s *Server) AddChat(chatID int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.chats[chatID] = true
}

// Block makes every message to chatID fail with 403 as if the user blocked the bot.
func (s *Server) Block(chatID int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.blocked[chatID] = true
}

// RefusePhotoURL makes Telegram refuse to fetch url ("wrong file identifier/HTTP URL specified"); an
// empty url refuses every URL.
func (s *Server) RefusePhotoURL(url string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if url == "" {
		s.refuseAllURL = true
		return
	}
	s.refusedURLs[url] = true
}

// Fail makes the next n calls of method answer status with description (n < 0: every call). A 429
// carries retryAfter seconds.
func (s *Server) Fail(method string, n, status int, description string, retryAfter int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures[method] = &failure{status: status, desc: description, retryAfter: retryAfter, remaining: n}
}

// FailChat is Fail for calls of method to one chat only.
func (s *Server) FailChat(chatID int64, method string, n, status int, description string, retryAfter int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures[chatKey(method, chatID)] = &failure{status: status, desc: description, retryAfter: retryAfter, remaining: n}
}

func chatKey(method string, chatID int64) string { return method + "/" + strconv.FormatInt(chatID, 10) }

// Recover removes an injected failure of method.
func (s *Server) Recover(method string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.failures, method)
}

// Calls returns a copy of every recorded call.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

// CallsOf returns the recorded calls of method that succeeded (status 200) when ok, or all of them.
func (s *Server) CallsOf(method string, okOnly bool) []Call {
	var out []Call
	for _, c := range s.Calls() {
		if c.Method == method && (!okOnly || c.Status == http.StatusOK) {
			out = append(out, c)
		}
	}
	return out
}

// Sent returns the successful message-sending calls (sendMessage, sendPhoto, sendVideo, sendAnimation,
// sendMediaGroup) to chatID.
func (s *Server) Sent(chatID int64) []Call {
	var out []Call
	for _, c := range s.Calls() {
		if c.ChatID == chatID && c.Status == http.StatusOK && isSendMethod(c.Method) {
			out = append(out, c)
		}
	}
	return out
}

// Message returns the held message, as last edited.
func (s *Server) Message(chatID int64, id int) (Message, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.messages[chatID][id]
	if !ok {
		return Message{}, false
	}
	return *m, true
}

// SendText injects a message from user userID in their private chat and returns its update id. Text
// starting with "/" carries a bot_command entity like Telegram's.
func (s *Server) SendText(userID int64, text string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.chats[userID] = true
	msg := map[string]any{
		"message_id": s.nextMsgID,
		"date":       s.opts.Clock.Now().Unix(),
		"from":       map[string]any{"id": userID, "is_bot": false, "first_name": "User"},
		"chat":       map[string]any{"id": userID, "type": "private"},
		"text":       text,
	}
	s.nextMsgID++
	if strings.HasPrefix(text, "/") {
		cmd, _, _ := strings.Cut(text, " ")
		msg["entities"] = []map[string]any{{"type": "bot_command", "offset": 0, "length": UTF16Len(cmd)}}
	}
	return s.pushUpdate(map[string]any{"message": msg})
}

// PressButton injects a callback query from user userID on message messageID of their private chat with
// data, and returns the callback query id.
func (s *Server) PressButton(userID int64, messageID int, data string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextCBID++
	id := "cb" + strconv.Itoa(s.nextCBID)
	cq := map[string]any{
		"id":            id,
		"from":          map[string]any{"id": userID, "is_bot": false, "first_name": "User"},
		"chat_instance": "ci",
		"data":          data,
	}
	if messageID != 0 {
		cq["message"] = map[string]any{
			"message_id": messageID,
			"date":       s.opts.Clock.Now().Unix(),
			"chat":       map[string]any{"id": userID, "type": "private"},
		}
	}
	s.pushUpdate(map[string]any{"callback_query": cq})
	return id
}

// pushUpdate needs s.mu held.
func (s *Server) pushUpdate(u map[string]any) int {
	id := s.nextUpdateID
	s.nextUpdateID++
	u["update_id"] = id
	raw, _ := json.Marshal(u)
	s.updates = append(s.updates, raw)
	s.updateIDs = append(s.updateIDs, id)
	close(s.newUpdate)
	s.newUpdate = make(chan struct{})
	return id
}

// PendingUpdates is the number of updates not yet confirmed by an offset.
func (s *Server) PendingUpdates() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.updates)
}

type apiError struct {
	status     int
	desc       string
	retryAfter int
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimPrefix(r.URL.Path, "/bot")
	token, method, ok := strings.Cut(path, "/")
	if !ok || token != s.opts.Token {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"ok": false, "error_code": 401, "description": "Unauthorized"})
		return
	}
	form, files, err := readForm(r)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"ok": false, "error_code": 400, "description": "Bad Request: " + err.Error()})
		return
	}
	if method == "getUpdates" {
		if f := s.takeFailure(method); f != nil {
			s.mu.Lock()
			s.calls = append(s.calls, Call{Method: method, Status: f.status, Description: f.desc, At: s.opts.Clock.Now()})
			s.mu.Unlock()
			writeJSON(w, f.status, map[string]any{"ok": false, "error_code": f.status, "description": f.desc})
			return
		}
		s.getUpdates(w, r, form)
		return
	}
	call := Call{Method: method, Text: form["text"], Caption: form["caption"], ParseMode: form["parse_mode"], CallbackID: form["callback_query_id"]}
	call.ChatID, _ = strconv.ParseInt(form["chat_id"], 10, 64)
	call.MessageID, _ = strconv.Atoi(form["message_id"])
	result, aerr := s.handle(method, form, files, &call)
	s.mu.Lock()
	call.At = s.opts.Clock.Now()
	if aerr != nil {
		call.Status, call.Description = aerr.status, aerr.desc
	} else {
		call.Status = http.StatusOK
		call.SentID = sentID(method, result)
	}
	s.calls = append(s.calls, call)
	s.mu.Unlock()
	if aerr != nil {
		body := map[string]any{"ok": false, "error_code": aerr.status, "description": aerr.desc}
		if aerr.retryAfter > 0 {
			body["parameters"] = map[string]any{"retry_after": aerr.retryAfter}
		}
		writeJSON(w, aerr.status, body)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "result": result})
}

func sentID(method string, result any) int {
	if !isSendMethod(method) {
		return 0
	}
	switch r := result.(type) {
	case map[string]any:
		id, _ := r["message_id"].(int)
		return id
	case []any:
		if len(r) > 0 {
			return sentID(method, r[0])
		}
	}
	return 0
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func readForm(r *http.Request) (map[string]string, map[string][]byte, error) {
	form := map[string]string{}
	files := map[string][]byte{}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/") {
		if err := r.ParseMultipartForm(32 << 20); err != nil {
			return nil, nil, fmt.Errorf("parse multipart: %w", err)
		}
		for k, v := range r.MultipartForm.Value {
			form[k] = v[0]
		}
		for k, fhs := range r.MultipartForm.File {
			f, err := fhs[0].Open()
			if err != nil {
				return nil, nil, fmt.Errorf("open upload: %w", err)
			}
			b, err := io.ReadAll(f)
			_ = f.Close()
			if err != nil {
				return nil, nil, fmt.Errorf("read upload: %w", err)
			}
			files[k] = b
			form[k] = "upload:" + fhs[0].Filename
		}
		return form, files, nil
	}
	if err := r.ParseForm(); err != nil {
		return nil, nil, fmt.Errorf("parse form: %w", err)
	}
	for k, v := range r.PostForm {
		form[k] = v[0]
	}
	for k, v := range r.URL.Query() {
		if _, ok := form[k]; !ok {
			form[k] = v[0]
		}
	}
	return form, files, nil
}

func (s *Server) getUpdates(w http.ResponseWriter, r *http.Request, form map[string]string) {
	offset, _ := strconv.Atoi(form["offset"])
	timeout, _ := strconv.Atoi(form["timeout"])
	limit, _ := strconv.Atoi(form["limit"])
	if limit <= 0 || limit > 100 {
		limit = 100
	}
	deadline := time.NewTimer(time.Duration(timeout) * time.Second)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		if offset > 0 {
			for len(s.updateIDs) > 0 && s.updateIDs[0] < offset {
				s.updates, s.updateIDs = s.updates[1:], s.updateIDs[1:]
			}
		}
		if len(s.updates) > 0 || timeout <= 0 {
			n := min(limit, len(s.updates))
			out := append([]json.RawMessage{}, s.updates[:n]...)
			s.mu.Unlock()
			writeJSON(w, http.StatusOK, map[string]any{"ok": true, "result": out})
			return
		}
		wait := s.newUpdate
		s.mu.Unlock()
		select {
		case <-wait:
		case <-deadline.C:
			timeout = 0
		case <-r.Context().Done():
			return
		}
	}
}

func isSendMethod(m string) bool {
	switch m {
	case "sendMessage", "sendPhoto", "sendVideo", "sendAnimation", "sendMediaGroup":
		return true
	}
	return false
}

func (s *Server) handle(method string, form map[string]string, files map[string][]byte, call *Call) (any, *apiError) {
	if markup := form["reply_markup"]; markup != "" {
		m, err := parseMarkup(markup)
		if err != nil {
			return nil, err
		}
		call.Markup = m
	}
	if f := s.takeFailure(chatKey(method, call.ChatID)); f != nil {
		return nil, f
	}
	if f := s.takeFailure(method); f != nil {
		return nil, f
	}
	switch method {
	case "getMe":
		return map[string]any{"id": 123456, "is_bot": true, "first_name": "Monitor", "username": "monitor_bot"}, nil
	case "answerCallbackQuery":
		return answerCallback(form)
	case "sendMessage", "editMessageText":
		return s.sendText(method, form, call)
	case "editMessageReplyMarkup":
		if err := s.checkChat(call.ChatID); err != nil {
			return nil, err
		}
		return s.edit(call, "", false)
	case "deleteMessage":
		return s.deleteMessage(call)
	case "sendPhoto", "sendVideo", "sendAnimation":
		return s.sendMedia(method, form, files, call)
	case "sendMediaGroup":
		return s.mediaGroup(form, call)
	case "setMyCommands":
		return s.setMyCommands(form)
	case "getMyCommands":
		return s.Commands(), nil
	}
	return nil, &apiError{404, "Not Found: method not found", 0}
}

// parseMarkup decodes and checks an inline keyboard as Telegram does.
func parseMarkup(markup string) (*tgbotapi.InlineKeyboardMarkup, *apiError) {
	var m tgbotapi.InlineKeyboardMarkup
	if err := json.Unmarshal([]byte(markup), &m); err != nil {
		return nil, &apiError{400, "Bad Request: can't parse reply keyboard markup JSON object", 0}
	}
	for _, row := range m.InlineKeyboard {
		for _, b := range row {
			if b.CallbackData != nil && (len(*b.CallbackData) == 0 || len(*b.CallbackData) > MaxCallbackDataLen) {
				return nil, &apiError{400, "Bad Request: BUTTON_DATA_INVALID", 0}
			}
			if b.CallbackData == nil && b.URL == nil {
				return nil, &apiError{400, "Bad Request: can't parse inline keyboard button: InlineKeyboardButton must have exactly one of the optional fields", 0}
			}
		}
	}
	return &m, nil
}

func answerCallback(form map[string]string) (any, *apiError) {
	if form["callback_query_id"] == "" {
		return nil, &apiError{400, "Bad Request: query is too old and response timeout expired or query ID is invalid", 0}
	}
	if UTF16Len(form["text"]) > 200 {
		return nil, &apiError{400, "Bad Request: MESSAGE_TOO_LONG", 0}
	}
	return true, nil
}

// sendText answers sendMessage and editMessageText.
func (s *Server) sendText(method string, form map[string]string, call *Call) (any, *apiError) {
	if err := s.checkChat(call.ChatID); err != nil {
		return nil, err
	}
	if err := checkText(form["text"], form["parse_mode"], MaxTextLen, "message is too long", true); err != nil {
		return nil, err
	}
	if method == "editMessageText" {
		return s.edit(call, form["text"], true)
	}
	if err := s.flood(call.ChatID); err != nil {
		return nil, err
	}
	return s.store(call.ChatID, form["text"], call.Markup), nil
}

// sendMedia answers sendPhoto, sendVideo and sendAnimation.
func (s *Server) sendMedia(method string, form map[string]string, files map[string][]byte, call *Call) (any, *apiError) {
	field := map[string]string{"sendPhoto": "photo", "sendVideo": "video", "sendAnimation": "animation"}[method]
	if err := s.checkChat(call.ChatID); err != nil {
		return nil, err
	}
	call.Media = form[field]
	call.Upload = files[field]
	if err := s.checkMedia(call.Media); err != nil {
		return nil, err
	}
	if err := checkText(form["caption"], form["parse_mode"], MaxCaptionLen, "message caption is too long", false); err != nil {
		return nil, err
	}
	if err := s.flood(call.ChatID); err != nil {
		return nil, err
	}
	return s.store(call.ChatID, form["caption"], call.Markup), nil
}

func (s *Server) deleteMessage(call *Call) (any, *apiError) {
	if err := s.checkChat(call.ChatID); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.messages[call.ChatID][call.MessageID]; !ok {
		return nil, &apiError{400, "Bad Request: message to delete not found", 0}
	}
	delete(s.messages[call.ChatID], call.MessageID)
	return true, nil
}

func (s *Server) takeFailure(method string) *apiError {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.failures[method]
	if !ok {
		return nil
	}
	if f.remaining > 0 {
		f.remaining--
		if f.remaining == 0 {
			delete(s.failures, method)
		}
	}
	return &apiError{f.status, f.desc, f.retryAfter}
}

func (s *Server) checkChat(chatID int64) *apiError {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.chats[chatID] {
		return &apiError{400, "Bad Request: chat not found", 0}
	}
	if s.blocked[chatID] {
		return &apiError{403, "Forbidden: bot was blocked by the user", 0}
	}
	return nil
}

func (s *Server) checkMedia(media string) *apiError {
	if media == "" {
		return &apiError{400, "Bad Request: there is no photo in the request", 0}
	}
	if strings.HasPrefix(media, "upload:") {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.refuseAllURL || s.refusedURLs[media] || !(strings.HasPrefix(media, "http://") || strings.HasPrefix(media, "https://")) {
		return &apiError{400, "Bad Request: wrong file identifier/HTTP URL specified", 0}
	}
	return nil
}

func checkText(text, parseMode string, maxLen int, tooLong string, required bool) *apiError {
	visible := text
	if strings.EqualFold(parseMode, "HTML") {
		v, err := ParseHTML(text)
		if err != nil {
			return &apiError{400, "Bad Request: " + err.Error(), 0}
		}
		visible = v
	} else if parseMode != "" {
		return &apiError{400, "Bad Request: unsupported parse_mode", 0}
	}
	if required && strings.TrimSpace(visible) == "" {
		return &apiError{400, "Bad Request: message text is empty", 0}
	}
	if UTF16Len(visible) > maxLen {
		return &apiError{400, "Bad Request: " + tooLong, 0}
	}
	return nil
}

// flood applies flood control to one message to chatID.
func (s *Server) flood(chatID int64) *apiError {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.opts.Clock.Now()
	if s.opts.PerChatInterval > 0 {
		if last, ok := s.lastPerChat[chatID]; ok && now.Sub(last) < s.opts.PerChatInterval {
			return tooMany(s.opts.PerChatInterval - now.Sub(last))
		}
	}
	if s.opts.GlobalLimit > 0 {
		cut := 0
		for cut < len(s.window) && now.Sub(s.window[cut]) >= s.opts.GlobalWindow {
			cut++
		}
		s.window = s.window[cut:]
		if len(s.window) >= s.opts.GlobalLimit {
			return tooMany(s.opts.GlobalWindow - now.Sub(s.window[0]))
		}
		s.window = append(s.window, now)
	}
	s.lastPerChat[chatID] = now
	return nil
}

func tooMany(wait time.Duration) *apiError {
	secs := max(1, int(math.Ceil(wait.Seconds())))
	return &apiError{429, fmt.Sprintf("Too Many Requests: retry after %d", secs), secs}
}

// store needs s.mu unheld.
func (s *Server) store(chatID int64, text string, markup *tgbotapi.InlineKeyboardMarkup) map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := s.nextMsgID
	s.nextMsgID++
	if s.messages[chatID] == nil {
		s.messages[chatID] = map[int]*Message{}
	}
	s.messages[chatID][id] = &Message{ID: id, ChatID: chatID, Text: text, Markup: markup}
	return messageJSON(chatID, id, text, s.opts.Clock.Now())
}

func messageJSON(chatID int64, id int, text string, at time.Time) map[string]any {
	return map[string]any{
		"message_id": id,
		"date":       at.Unix(),
		"chat":       map[string]any{"id": chatID, "type": "private"},
		"text":       text,
	}
}

func (s *Server) edit(call *Call, text string, setText bool) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.messages[call.ChatID][call.MessageID]
	if !ok {
		return nil, &apiError{400, "Bad Request: message to edit not found", 0}
	}
	newText := m.Text
	if setText {
		newText = text
	}
	if newText == m.Text && markupEqual(m.Markup, call.Markup) {
		return nil, &apiError{400, "Bad Request: message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message", 0}
	}
	m.Text, m.Markup = newText, call.Markup
	return messageJSON(call.ChatID, m.ID, m.Text, s.opts.Clock.Now()), nil
}

func markupEqual(a, b *tgbotapi.InlineKeyboardMarkup) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

func (s *Server) mediaGroup(form map[string]string, call *Call) (any, *apiError) {
	if err := s.checkChat(call.ChatID); err != nil {
		return nil, err
	}
	var media []struct {
		Type      string `json:"type"`
		Media     string `json:"media"`
		Caption   string `json:"caption"`
		ParseMode string `json:"parse_mode"`
	}
	if err := json.Unmarshal([]byte(form["media"]), &media); err != nil {
		return nil, &apiError{400, "Bad Request: can't parse media JSON object", 0}
	}
	if len(media) < 2 || len(media) > 10 {
		return nil, &apiError{400, "Bad Request: wrong number of media specified", 0}
	}
	for _, m := range media {
		ref := m.Media
		if name, ok := strings.CutPrefix(ref, "attach://"); ok {
			ref = form[name]
			if ref == "" {
				return nil, &apiError{400, "Bad Request: wrong file identifier/HTTP URL specified", 0}
			}
		}
		if err := s.checkMedia(ref); err != nil {
			return nil, err
		}
		if err := checkText(m.Caption, m.ParseMode, MaxCaptionLen, "message caption is too long", false); err != nil {
			return nil, err
		}
		call.Album = append(call.Album, AlbumItem{Type: m.Type, Media: ref, Caption: m.Caption})
	}
	if err := s.flood(call.ChatID); err != nil {
		return nil, err
	}
	out := make([]any, 0, len(media))
	for _, it := range call.Album {
		out = append(out, s.store(call.ChatID, it.Caption, nil))
	}
	return out, nil
}
