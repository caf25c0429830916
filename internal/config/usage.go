package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"

	"github.com/skinflip/dmarket-monitor/internal/platform/buildinfo"
)

// Placeholder is the value prod.env holds for every secret until the operator replaces it. Every binary
// refuses a variable that still contains it.
const Placeholder = "change-me"

// placeholderHint names, for a variable that compose assembles from others, the variable to set.
func placeholderHint(name string) string {
	switch name {
	case "REDIS_URL":
		return " (in compose: REDIS_PASSWORD)"
	case "RABBITMQ_URL":
		return " (in compose: RABBITMQ_PASSWORD)"
	}
	return ""
}

// refusePlaceholders reports every variable of names (except those in skip) whose value still contains
// Placeholder. The message names the variable and never repeats its value.
func refusePlaceholders(p *problems, vars map[string]string, names, skip []string) {
	for _, name := range names {
		if slices.Contains(skip, name) {
			continue
		}
		if strings.Contains(strings.ToLower(vars[name]), Placeholder) {
			p.add(name, "still holds the placeholder from prod.env%s: set the real value (exported in the shell "+
				"or in a git-ignored env file, see the README)", placeholderHint(name))
		}
	}
}

// binaryHelp is what Usage says about one binary.
type binaryHelp struct {
	typ         reflect.Type
	defaultAddr string
	summary     string
	extra       string
}

// binary returns the help of a program, false for an unknown one.
func binary(program string) (binaryHelp, bool) {
	switch program {
	case "parser":
		return binaryHelp{reflect.TypeFor[Parser](), DefaultParserAddr,
			"Crawls DMarket through rotating proxies and publishes raw API pages to RabbitMQ.", ""}, true
	case "worker":
		return binaryHelp{reflect.TypeFor[Worker](), DefaultWorkerAddr,
			"Consumes the parser's pages, validates them, analyses sell history and writes Redis.",
			"\nSubcommand:\n  worker dlq list|replay [flags]   list or replay dead-lettered messages;\n" +
				"                                   `worker dlq -h` lists its flags\n"}, true
	case "bot":
		return binaryHelp{reflect.TypeFor[Bot](), DefaultBotAddr,
			"Telegram bot: reads Redis, computes offers, answers commands and sends notifications.",
			"\nSubcommand:\n  bot offers [flags]   print the current offers as a table, reading Redis only " +
				"(no Telegram token needed);\n                       `bot offers -h` lists its flags\n"}, true
	}
	return binaryHelp{}, false
}

// Usage returns the help of a binary (parser, worker or bot): its command line and every variable it
// reads with its default and meaning. An unknown program gets the command line only.
func Usage(program string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "usage: %s [-env-file PATH] [-version] [-h]\n\n", program)
	bin, ok := binary(program)
	if ok {
		fmt.Fprintf(&b, "%s\n\n", bin.summary)
	}
	b.WriteString("Configuration comes from the environment. -env-file PATH names a dotenv file whose variables\n" +
		"apply where the environment leaves them unset or empty (values exported in the shell win).\n" +
		"-version prints the version, commit and build date; -h prints this help.\n")
	if !ok {
		return b.String()
	}
	b.WriteString("\nVariables [default]:\n")
	for _, v := range variables(bin.typ) {
		def := v.def
		switch {
		case v.name == "HTTP_ADDR":
			def = bin.defaultAddr
		case v.name == "TELEGRAM_API_TOKEN":
			def = "required"
		case def == "":
			def = "empty"
		}
		fmt.Fprintf(&b, "  %s [%s]\n      %s\n", v.name, def, v.help)
	}
	b.WriteString("\nDurations use Go syntax (500ms, 30s, 5m, 1h); money is US dollars. A value still holding the\n" +
		"prod.env placeholder " + Placeholder + " is refused.\n")
	b.WriteString(bin.extra)
	return b.String()
}

// variable is one environment variable of a configuration struct.
type variable struct {
	name, def, help string
}

// variables lists the variables of a configuration struct in declaration order.
func variables(t reflect.Type) []variable {
	var out []variable
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Anonymous && f.Type.Kind() == reflect.Struct {
			out = append(out, variables(f.Type)...)
			continue
		}
		if name, _, _ := strings.Cut(f.Tag.Get("env"), ","); name != "" {
			out = append(out, variable{name: name, def: f.Tag.Get("envDefault"), help: f.Tag.Get("help")})
		}
	}
	return out
}

// Exit reports a Load* error of program and returns the process exit code: the help on stdout and 0
// for -h, the build information on stdout and 0 for -version, otherwise the error on stderr and 2.
func Exit(stdout, stderr io.Writer, program string, err error) int {
	switch {
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprint(stdout, Usage(program))
		return 0
	case errors.Is(err, ErrVersion):
		fmt.Fprintln(stdout, buildinfo.Get().Line(program))
		return 0
	case errors.Is(err, ErrUsage):
		fmt.Fprintf(stderr, "%s: %v\nRun `%s -h` for the command line and every variable.\n", program, err, program)
		return 2
	default:
		fmt.Fprintln(stderr, err)
		return 2
	}
}
