// `egress-mtls completion bash|zsh`: a completion script made from the program's own
// commands and options, so it never lags behind them. zsh runs the bash function through
// bashcompinit, as kubectl's and helm's scripts do.
import type { Command, Option } from 'commander'

/** Words an option's value completes to: its choices, or file names. */
function valueWords (o: Option): string | undefined {
  if (o.argChoices !== undefined) return o.argChoices.join(' ')
  return undefined
}

const flags = (o: Option): string[] => [o.short, o.long].filter((f): f is string => f !== undefined)
const takesValue = (o: Option): boolean => o.required || o.optional

export function completionScript (shell: 'bash' | 'zsh', program: Command): string {
  const globals = program.options.filter((o) => o.long !== '--version')
  const commands = program.commands
  const valueOptions = [...globals, ...commands.flatMap((c) => c.options)].filter(takesValue)
  // choices differ between commands (-o): matched as "command:flag"
  const choiceCases = new Map<string, string>()
  for (const c of commands) {
    for (const o of c.options.filter(takesValue)) {
      const words = valueWords(o)
      if (words !== undefined) choiceCases.set(flags(o).map((f) => `${c.name()}:${f}`).join('|'), words)
    }
  }
  const choiceFlags = [...new Set(valueOptions.filter((o) => valueWords(o) !== undefined).flatMap(flags))]
  const plain = valueOptions.filter((o) => valueWords(o) === undefined)
  const fileFlags = [...new Set(plain.filter((o) => /<(file|path)>/.test(o.flags)).flatMap(flags))]
  const otherFlags = [...new Set(plain.filter((o) => !/<(file|path)>/.test(o.flags)).flatMap(flags))]
  const globalWords = [...globals.flatMap(flags), '--help', '--version'].join(' ')
  const commandCases = commands.map((c) => {
    const args = c.registeredArguments.flatMap((a) => a.argChoices ?? [])
    const words = [...args, ...c.options.flatMap(flags), ...globals.flatMap(flags), '--help'].join(' ')
    return `    ${c.name()}) words="${words}" ;;`
  })
  const bash = `# egress-mtls ${shell} completion: source <(egress-mtls completion ${shell})
_egress_mtls() {
  local cur prev cmd words i
  cur="\${COMP_WORDS[COMP_CWORD]}"
  prev="\${COMP_WORDS[COMP_CWORD-1]}"
  cmd=""
  for ((i = 1; i < COMP_CWORD; i++)); do
    case "\${COMP_WORDS[i]}" in
      ${[...fileFlags, ...otherFlags, ...choiceFlags].join('|')}) ((i++)) ;;
      -*) ;;
      *) cmd="\${COMP_WORDS[i]}"; break ;;
    esac
  done
  case "$cmd:$prev" in
${[...choiceCases].map(([f, w]) => `    ${f}) COMPREPLY=($(compgen -W "${w}" -- "$cur")); return ;;`).join('\n')}
  esac
  case "$prev" in
    ${fileFlags.join('|')}) COMPREPLY=($(compgen -f -- "$cur")); return ;;
    ${otherFlags.join('|')}) COMPREPLY=(); return ;;
  esac
  case "$cmd" in
    "") words="${commands.map((c) => c.name()).join(' ')} ${globalWords}" ;;
${commandCases.join('\n')}
    *) words="" ;;
  esac
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -o default -F _egress_mtls egress-mtls
`
  return shell === 'bash' ? bash : `#compdef egress-mtls\nautoload -U +X bashcompinit && bashcompinit\n${bash}`
}
