package core

// Command is the kind of a client command, as metrics count it.
type Command uint8

// Commands, in the order metrics list them.
const (
	CommandIAMAT Command = iota
	CommandWHATSAT
	// CommandInvalid is a line the parser refused: unknown command, wrong
	// fields, too long.
	CommandInvalid
	NumCommands
)

var commandNames = [NumCommands]string{"iamat", "whatsat", "invalid"}

// String is the command's metric label.
func (c Command) String() string {
	if c < NumCommands {
		return commandNames[c]
	}
	return "unknown"
}

// Outcome is what became of one command.
type Outcome uint8

// Outcomes, in the order metrics list them.
const (
	// OutcomeStored: an IAMAT was newer, stored and flooded.
	OutcomeStored Outcome = iota
	// OutcomeStale: an IAMAT was answered but not newer than the record held.
	OutcomeStale
	// OutcomeAnswered: a WHATSAT was answered (whatever the Places status).
	OutcomeAnswered
	// OutcomeUnknownClient: a WHATSAT named a client with no record.
	OutcomeUnknownClient
	// OutcomeInvalid: the command was refused with "?".
	OutcomeInvalid
	NumOutcomes
)

var outcomeNames = [NumOutcomes]string{"stored", "stale", "answered", "unknown_client", "invalid"}

// String is the outcome's metric label.
func (o Outcome) String() string {
	if o < NumOutcomes {
		return outcomeNames[o]
	}
	return "unknown"
}

// Observer is told of every command, at every door. It is called on the
// hot path: implementations must be quick, allocation-free and safe for
// concurrent use (atomic counters indexed by Command and Outcome).
type Observer interface {
	Command(c Command, o Outcome)
}

type nopObserver struct{}

func (nopObserver) Command(Command, Outcome) {}

var _ Observer = nopObserver{}
