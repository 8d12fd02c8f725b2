package threat

import "encoding/json"

// FormatVersion is the only value of rampart_threat_model this package reads.
const FormatVersion = 1

// Model is a threat model and security analysis. Field order follows the
// TMSA: target of evaluation, security problem definition (assets, agents,
// threats, assumptions, policies), objectives, requirements.
type Model struct {
	Format       int           `yaml:"rampart_threat_model" json:"rampart_threat_model"`
	Title        string        `yaml:"title" json:"title"`
	Version      string        `yaml:"version" json:"version,omitempty"`
	Authors      []string      `yaml:"authors" json:"authors,omitempty"`
	TOE          TOE           `yaml:"toe" json:"toe"`
	Boundaries   []Boundary    `yaml:"trust_boundaries" json:"trust_boundaries,omitempty"`
	Components   []Component   `yaml:"components" json:"components,omitempty"`
	Flows        []Flow        `yaml:"data_flows" json:"data_flows,omitempty"`
	Assets       []Asset       `yaml:"assets" json:"assets"`
	Agents       []Agent       `yaml:"threat_agents" json:"threat_agents"`
	Surfaces     []Surface     `yaml:"attack_surfaces" json:"attack_surfaces,omitempty"`
	Threats      []Threat      `yaml:"threats" json:"threats"`
	Assumptions  []Statement   `yaml:"assumptions" json:"assumptions,omitempty"`
	Policies     []Statement   `yaml:"policies" json:"policies,omitempty"`
	Objectives   []Objective   `yaml:"objectives" json:"objectives"`
	Requirements []Requirement `yaml:"requirements" json:"requirements"`

	// File is the path the model was loaded from, used in messages.
	File string `yaml:"-" json:"-"`
	// Pos of each mapping key at the top level and in every item is kept in
	// the items themselves; Lines holds the top-level ones.
	Lines map[string]Pos `yaml:"-" json:"-"`
}

// TOE is the target of evaluation: the device and what is in scope.
type TOE struct {
	Name             string         `yaml:"name" json:"name"`
	Description      string         `yaml:"description" json:"description"`
	SecurityFeatures []string       `yaml:"security_features" json:"security_features,omitempty"`
	InScope          []string       `yaml:"in_scope" json:"in_scope,omitempty"`
	OutOfScope       []string       `yaml:"out_of_scope" json:"out_of_scope,omitempty"`
	Pos              Pos            `yaml:"-" json:"-"`
	Lines            map[string]Pos `yaml:"-" json:"-"`
}

// Ref is a reference to another item by ID, with where it was written.
type Ref struct {
	ID  string
	Pos Pos
}

// MarshalJSON writes a reference as its ID.
func (r Ref) MarshalJSON() ([]byte, error) { return json.Marshal(r.ID) }

// Boundary is a trust boundary; boundaries nest through Parent.
type Boundary struct {
	ID          string         `yaml:"id" json:"id"`
	Name        string         `yaml:"name" json:"name"`
	Description string         `yaml:"description" json:"description,omitempty"`
	Parent      *Ref           `yaml:"parent" json:"parent,omitempty"`
	Pos         Pos            `yaml:"-" json:"-"`
	Lines       map[string]Pos `yaml:"-" json:"-"`
}

// Component kinds.
const (
	KindProcess    = "process"
	KindDatastore  = "datastore"
	KindExternal   = "external"
	KindPeripheral = "peripheral"
)

// Zones a component may be declared in.
const (
	ZoneSecure    = "secure"
	ZoneNonSecure = "non-secure"
)

// Component is a part of the system (or outside it) in the data-flow diagram.
type Component struct {
	ID          string         `yaml:"id" json:"id"`
	Name        string         `yaml:"name" json:"name"`
	Description string         `yaml:"description" json:"description,omitempty"`
	Kind        string         `yaml:"kind" json:"kind"`
	Boundary    *Ref           `yaml:"boundary" json:"boundary,omitempty"`
	Zone        string         `yaml:"zone" json:"zone,omitempty"`
	Holds       []Ref          `yaml:"holds" json:"holds,omitempty"`
	Protects    []Ref          `yaml:"protects" json:"protects,omitempty"`
	Pos         Pos            `yaml:"-" json:"-"`
	Lines       map[string]Pos `yaml:"-" json:"-"`
}

// Flow is a data flow between two components.
type Flow struct {
	ID       string         `yaml:"id" json:"id"`
	From     Ref            `yaml:"from" json:"from"`
	To       Ref            `yaml:"to" json:"to"`
	Protocol string         `yaml:"protocol" json:"protocol,omitempty"`
	Assets   []Ref          `yaml:"assets" json:"assets,omitempty"`
	Pos      Pos            `yaml:"-" json:"-"`
	Lines    map[string]Pos `yaml:"-" json:"-"`
}

// Asset kinds: the TMSA's general device assets and application-specific ones.
const (
	AssetDevice      = "device"
	AssetApplication = "application"
)

// Need levels for a security property.
var needLevels = []string{"none", "low", "medium", "high"}

// Needs are an asset's security needs.
type Needs struct {
	Confidentiality string         `yaml:"confidentiality" json:"confidentiality"`
	Integrity       string         `yaml:"integrity" json:"integrity"`
	Authenticity    string         `yaml:"authenticity" json:"authenticity"`
	Pos             Pos            `yaml:"-" json:"-"`
	Lines           map[string]Pos `yaml:"-" json:"-"`
}

// Asset is something of value the TOE must protect.
type Asset struct {
	ID            string         `yaml:"id" json:"id"`
	Name          string         `yaml:"name" json:"name"`
	Description   string         `yaml:"description" json:"description,omitempty"`
	Kind          string         `yaml:"kind" json:"kind"`
	Needs         Needs          `yaml:"needs" json:"needs"`
	Justification string         `yaml:"justification" json:"justification,omitempty"`
	Pos           Pos            `yaml:"-" json:"-"`
	Lines         map[string]Pos `yaml:"-" json:"-"`
}

// Agent is a threat agent: who attacks, with what access.
type Agent struct {
	ID          string         `yaml:"id" json:"id"`
	Name        string         `yaml:"name" json:"name"`
	Description string         `yaml:"description" json:"description,omitempty"`
	Access      string         `yaml:"access" json:"access"`
	Pos         Pos            `yaml:"-" json:"-"`
	Lines       map[string]Pos `yaml:"-" json:"-"`
}

// Access values for an agent, matching CVSS attack vectors.
var accessLevels = []string{"network", "adjacent", "local", "physical"}

// Surface is an attack surface: where an agent can reach the TOE.
type Surface struct {
	ID          string         `yaml:"id" json:"id"`
	Name        string         `yaml:"name" json:"name"`
	Description string         `yaml:"description" json:"description,omitempty"`
	Components  []Ref          `yaml:"components" json:"components,omitempty"`
	Pos         Pos            `yaml:"-" json:"-"`
	Lines       map[string]Pos `yaml:"-" json:"-"`
}

// STRIDE categories.
var strideCategories = []string{"spoofing", "tampering", "repudiation", "information-disclosure", "denial-of-service", "elevation-of-privilege"}

// Mitigation statuses, as in Trusted Firmware-M's generic threat model.
const (
	StatusControlled  = "controlled"
	StatusAccepted    = "accepted"
	StatusSuppressed  = "suppressed"
	StatusTransferred = "transferred"
	StatusOutOfScope  = "out-of-scope"
)

var statuses = []string{StatusControlled, StatusAccepted, StatusSuppressed, StatusTransferred, StatusOutOfScope}

// Threat is one threat to one or more assets.
type Threat struct {
	ID            string         `yaml:"id" json:"id"`
	Title         string         `yaml:"title" json:"title"`
	Description   string         `yaml:"description" json:"description,omitempty"`
	STRIDE        []string       `yaml:"stride" json:"stride"`
	Agents        []Ref          `yaml:"agents" json:"agents"`
	Surfaces      []Ref          `yaml:"surfaces" json:"surfaces,omitempty"`
	Assets        []Ref          `yaml:"assets" json:"assets"`
	CVSS          string         `yaml:"cvss" json:"cvss"`
	Status        string         `yaml:"status" json:"status"`
	MitigatedBy   []Ref          `yaml:"mitigated_by" json:"mitigated_by,omitempty"`
	ReliesOn      []Ref          `yaml:"relies_on" json:"relies_on,omitempty"`
	Justification string         `yaml:"justification" json:"justification,omitempty"`
	Pos           Pos            `yaml:"-" json:"-"`
	Lines         map[string]Pos `yaml:"-" json:"-"`

	// Score is computed from CVSS by Load; it is not read from the file.
	Score *Score `yaml:"-" json:"score,omitempty"`
}

// Statement is an assumption (A.*) or an organisational policy (P.*).
type Statement struct {
	ID          string         `yaml:"id" json:"id"`
	Title       string         `yaml:"title" json:"title"`
	Description string         `yaml:"description" json:"description,omitempty"`
	Pos         Pos            `yaml:"-" json:"-"`
	Lines       map[string]Pos `yaml:"-" json:"-"`
}

// Objective is a security objective (O.*).
type Objective struct {
	ID          string         `yaml:"id" json:"id"`
	Title       string         `yaml:"title" json:"title"`
	Description string         `yaml:"description" json:"description,omitempty"`
	Upholds     []Ref          `yaml:"upholds" json:"upholds,omitempty"`
	Pos         Pos            `yaml:"-" json:"-"`
	Lines       map[string]Pos `yaml:"-" json:"-"`
}

// Evidence kinds.
var evidenceKinds = []string{"file", "test", "config", "document", "mechanism"}

// Evidence points at what implements or demonstrates a requirement.
type Evidence struct {
	Kind  string         `yaml:"kind" json:"kind"`
	Ref   string         `yaml:"ref" json:"ref"`
	Note  string         `yaml:"note" json:"note,omitempty"`
	Pos   Pos            `yaml:"-" json:"-"`
	Lines map[string]Pos `yaml:"-" json:"-"`
}

// Requirement is a security (functional) requirement that realises objectives.
type Requirement struct {
	ID            string         `yaml:"id" json:"id"`
	Title         string         `yaml:"title" json:"title"`
	Description   string         `yaml:"description" json:"description,omitempty"`
	Realises      []Ref          `yaml:"realises" json:"realises"`
	Refines       []Ref          `yaml:"refines" json:"refines,omitempty"`
	PSA           []Ref          `yaml:"psa" json:"psa,omitempty"`
	ImplementedBy []Ref          `yaml:"implemented_by" json:"implemented_by,omitempty"`
	Evidence      []Evidence     `yaml:"evidence" json:"evidence"`
	Pos           Pos            `yaml:"-" json:"-"`
	Lines         map[string]Pos `yaml:"-" json:"-"`
}

// MarshalYAML writes a reference as its ID.
func (r Ref) MarshalYAML() (any, error) { return r.ID, nil }
