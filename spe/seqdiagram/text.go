package seqdiagram

import (
	"fmt"
	"strings"
)

// textSafe keeps letters, digits and a few punctuation marks: a label in
// Mermaid or PlantUML cannot then end the line, open a note or inject
// markup.
func textSafe(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			return r
		case strings.ContainsRune(" _-.()x", r):
			return r
		}
		return '_'
	}, s)
}

// Mermaid returns the diagram as a Mermaid sequenceDiagram.
func (d *Diagram) Mermaid() string {
	var b strings.Builder
	b.WriteString("sequenceDiagram\n")
	for _, l := range d.Lifelines {
		fmt.Fprintf(&b, "    participant %s as %s\n", l.ID, textSafe(l.Label))
	}
	for _, m := range d.Messages {
		arrow := "->>"
		if m.Reply {
			arrow = "-->>"
		}
		fmt.Fprintf(&b, "    %s%s%s: %s\n", d.Lifelines[m.From].ID, arrow, d.Lifelines[m.To].ID, textSafe(m.Label))
	}
	return b.String()
}

// PlantUML returns the diagram as a PlantUML sequence diagram.
func (d *Diagram) PlantUML() string {
	var b strings.Builder
	b.WriteString("@startuml\n")
	for _, l := range d.Lifelines {
		kind := "participant"
		if l.Kind == "client" {
			kind = "actor"
		}
		fmt.Fprintf(&b, "%s \"%s\" as %s\n", kind, textSafe(l.Label), l.ID)
	}
	for _, m := range d.Messages {
		arrow := "->"
		if m.Reply {
			arrow = "-->"
		}
		fmt.Fprintf(&b, "%s %s %s : %s\n", d.Lifelines[m.From].ID, arrow, d.Lifelines[m.To].ID, textSafe(m.Label))
	}
	b.WriteString("@enduml\n")
	return b.String()
}
