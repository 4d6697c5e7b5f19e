package cli

import (
	"context"
	"strings"

	ucli "github.com/urfave/cli/v2"
)

// Run runs the app on args after normalising them so that flags may come
// anywhere, as users of kubectl or nomad expect:
//
//	cxnet status --home H --json
//	cxnet contract preview FILE.yaml --json
//
// urfave/cli/v2 wants global flags before the command and a command's
// flags before its arguments; Run moves them there. "--" ends flags.
func Run(ctx context.Context, app *ucli.App, args []string) error {
	var unknown string
	app.CommandNotFound = func(_ *ucli.Context, name string) { unknown = name }
	err := app.RunContext(ctx, normalizeArgs(app, args))
	if err == nil && unknown != "" {
		return usagef("no command %q; see `cxnet --help`", unknown)
	}
	// A missing required flag is a usage error; urfave/cli does not type it.
	if err != nil && strings.HasPrefix(err.Error(), "Required flag") {
		return usageError{err}
	}
	return err
}

func normalizeArgs(app *ucli.App, args []string) []string {
	if len(args) < 2 {
		return args
	}
	var global, cmdPath, cmdFlags, positional []string
	cmds := app.Commands
	var leaf *ucli.Command
	rest := args[1:]
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		if a == "--" {
			positional = append(positional, rest[i:]...)
			break
		}
		if strings.HasPrefix(a, "-") && len(a) > 1 {
			name, hasValue := flagName(a)
			if f := findFlag(app.Flags, name); f != nil {
				global = append(global, a)
				if !hasValue && takesValue(f) && i+1 < len(rest) {
					i++
					global = append(global, rest[i])
				}
				continue
			}
			cmdFlags = append(cmdFlags, a)
			if leaf != nil && !hasValue {
				if f := findFlag(leaf.Flags, name); f != nil && takesValue(f) && i+1 < len(rest) {
					i++
					cmdFlags = append(cmdFlags, rest[i])
				}
			}
			continue
		}
		if len(positional) == 0 {
			if c := findCommand(cmds, a); c != nil {
				if len(cmdFlags) > 0 { // flags of the parent command stay with it
					cmdPath = append(cmdPath, cmdFlags...)
					cmdFlags = nil
				}
				cmdPath = append(cmdPath, a)
				leaf = c
				cmds = c.Subcommands
				continue
			}
		}
		positional = append(positional, a)
	}
	out := append([]string{args[0]}, global...)
	out = append(out, cmdPath...)
	out = append(out, cmdFlags...)
	return append(out, positional...)
}

func flagName(a string) (name string, hasValue bool) {
	name = strings.TrimLeft(a, "-")
	if i := strings.IndexByte(name, '='); i >= 0 {
		return name[:i], true
	}
	return name, false
}

func findFlag(flags []ucli.Flag, name string) ucli.Flag {
	for _, f := range flags {
		for _, n := range f.Names() {
			if n == name {
				return f
			}
		}
	}
	return nil
}

func takesValue(f ucli.Flag) bool {
	if dg, ok := f.(ucli.DocGenerationFlag); ok {
		return dg.TakesValue()
	}
	return true
}

func findCommand(cmds []*ucli.Command, name string) *ucli.Command {
	for _, c := range cmds {
		if c.HasName(name) {
			return c
		}
	}
	return nil
}
