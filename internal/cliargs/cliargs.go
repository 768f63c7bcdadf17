// Package cliargs reorders a command line for urfave/cli, which stops
// reading flags at the first argument, so that flags may follow
// arguments as people write them.
package cliargs

import (
	"strings"

	"github.com/urfave/cli/v2"
)

// FlagsFirst moves a command's flags before its arguments, so that
// `repairshop-export query turnaround --from 2026-01-01` reads as people write it
// (urfave/cli stops at the first argument). A flag's value moves with it;
// "--" ends the flags as usual. A subcommand's flags (`lake status -c
// x.yaml`) move before its own arguments.
func FlagsFirst(app *cli.App, args []string) []string {
	if len(args) < 3 {
		return args
	}
	cmd := app.Command(args[1])
	if cmd == nil {
		return args
	}
	depth := 2 // args[:depth] are the program and its command names
	for depth < len(args) {
		sub := cmd.Command(args[depth])
		if sub == nil {
			break
		}
		cmd = sub
		depth++
	}
	takesValue := map[string]bool{}
	for _, f := range cmd.Flags {
		_, isBool := f.(*cli.BoolFlag)
		for _, n := range f.Names() {
			takesValue[n] = !isBool
		}
	}
	flags, rest := []string{}, []string{}
	for i := depth; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			rest = append(rest, args[i:]...)
			i = len(args)
		case len(a) > 1 && a[0] == '-':
			flags = append(flags, a)
			name := strings.TrimLeft(a, "-")
			if takesValue[name] && !strings.Contains(name, "=") && i+1 < len(args) {
				i++
				flags = append(flags, args[i])
			}
		default:
			rest = append(rest, a)
		}
	}
	return append(append(append([]string{}, args[:depth]...), flags...), rest...)
}
