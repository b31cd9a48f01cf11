package cli

import (
	"slices"
	"strings"
)

// completionCmd is `completion bash|zsh`: a shell script, written from the tree, that completes the
// commands and flags; after a flag that takes a value the shell completes file names.
func completionCmd(rootName string) *Command {
	c := &Command{
		Use:   "completion",
		Short: "Generate the autocompletion script for the specified shell",
		Long: "Generate the autocompletion script for " + rootName + " for the specified shell.\n" +
			"See each sub-command's help for details on how to use the generated script.",
	}
	c.AddCommand(&Command{
		Use:   "bash",
		Short: "Generate the autocompletion script for bash",
		Long: "Generate the autocompletion script for the bash shell.\n\n" +
			"To load completions in your current shell session:\n\n" +
			"\tsource <(" + rootName + " completion bash)\n\n" +
			"To load completions for every new session, execute once:\n\n" +
			"\t" + rootName + " completion bash > /etc/bash_completion.d/" + rootName + "\n",
		Run: func(cmd *Command) error {
			_, err := cmd.OutOrStdout().Write([]byte(bashScript(cmd.root())))
			return err
		},
	}, &Command{
		Use:   "zsh",
		Short: "Generate the autocompletion script for zsh",
		Long: "Generate the autocompletion script for the zsh shell (the bash script, through zsh's bashcompinit).\n\n" +
			"To load completions in your current shell session:\n\n" +
			"\tsource <(" + rootName + " completion zsh)\n\n" +
			"To load completions for every new session, add that line to ~/.zshrc.\n",
		Run: func(cmd *Command) error {
			script := "(( $+functions[compdef] )) || { autoload -U +X compinit && compinit; }\n" +
				"autoload -U +X bashcompinit && bashcompinit\n" + bashScript(cmd.root())
			_, err := cmd.OutOrStdout().Write([]byte(script))
			return err
		},
	})
	return c
}

// bashScript completes the words after the command's name: it walks the words typed so far down the tree
// (skipping flags and the values of those that take one), then offers the subcommands and flags of where it
// got. Hidden commands and flags are not offered.
func bashScript(root *Command) string {
	name := root.Name()
	fn := "_" + strings.NewReplacer("-", "_", ".", "_").Replace(name)
	var paths, cases []string
	var valued []string
	var walk func(c *Command, path string)
	walk = func(c *Command, path string) {
		var words []string
		for _, s := range c.visible() {
			words = append(words, s.Name())
		}
		for _, fs := range c.scope() {
			for _, f := range fs.flags {
				if f.Hidden {
					continue
				}
				words = append(words, "--"+f.Name)
				if f.Short != "" {
					words = append(words, "-"+f.Short)
				}
				if f.kind != "" {
					valued = append(valued, "--"+f.Name)
					if f.Short != "" {
						valued = append(valued, "-"+f.Short)
					}
				}
			}
		}
		cases = append(cases, "\t'"+path+"') words='"+strings.Join(words, " ")+"' ;;")
		for _, s := range c.visible() {
			p := strings.TrimPrefix(path+" "+s.Name(), " ")
			paths = append(paths, "'"+p+"'")
			walk(s, p)
		}
	}
	walk(root, "")
	slices.Sort(valued)
	valued = slices.Compact(valued)
	return "# bash completion for " + name + "\n" +
		fn + "() {\n" +
		"\tlocal cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]} path= words= w i\n" +
		"\tCOMPREPLY=()\n" +
		"\tcase $prev in\n" +
		"\t" + strings.Join(valued, "|") + ") return ;; # a value: the shell's default, file names\n" +
		"\tesac\n" +
		"\tfor ((i = 1; i < COMP_CWORD; i++)); do\n" +
		"\t\tw=${COMP_WORDS[i]}\n" +
		"\t\tcase $w in\n" +
		"\t\t" + strings.Join(valued, "|") + ") ((i++)) ;;\n" +
		"\t\t-*) ;;\n" +
		"\t\t*) case \"${path:+$path }$w\" in\n" +
		"\t\t\t" + strings.Join(paths, "|") + ") path=${path:+$path }$w ;;\n" +
		"\t\t\tesac ;;\n" +
		"\t\tesac\n" +
		"\tdone\n" +
		"\tcase $path in\n" +
		strings.Join(cases, "\n") + "\n" +
		"\tesac\n" +
		"\tCOMPREPLY=($(compgen -W \"$words\" -- \"$cur\"))\n" +
		"}\n" +
		"complete -o default -F " + fn + " " + name + "\n"
}
