package mcrm

// The CRM objects are described once, here, as data. The store builds its
// column lists from these descriptions, the API validates input with them,
// the importer maps columns onto them, the exporter flattens them and the
// OpenAPI document is generated from them, so a field cannot exist in one
// path and be missing from another. Column names come only from this file,
// never from request input.

// FieldType is the kind of value a field holds.
type FieldType string

const (
	TString   FieldType = "string"   // short single-line text
	TText     FieldType = "text"     // long text
	TInt      FieldType = "integer"  // 64-bit integer
	TMoney    FieldType = "money"    // decimal with 2 places, stored as integer minor units
	TBool     FieldType = "boolean"  // true / false
	TDate     FieldType = "date"     // calendar date YYYY-MM-DD, no time zone
	TDateTime FieldType = "datetime" // an instant, stored in UTC
	TEnum     FieldType = "enum"     // one of Field.Enum
	TRef      FieldType = "ref"      // id of a record of entity Field.Ref (same tenant)
	TEmail    FieldType = "email"    // an email address
	TCurrency FieldType = "currency" // ISO 4217 code
	TURL      FieldType = "url"      // http(s) URL
	TPhone    FieldType = "phone"    // a phone number (list items only): E.164, with ext and original kept beside it
	TList     FieldType = "list"     // ordered list of objects described by Field.Item
)

// Class is the data classification of a field. Data protection decides how
// a field is stored and shown from its class, so every field must have one.
type Class string

const (
	Public    Class = "public"
	Internal  Class = "internal"
	Personal  Class = "personal"
	Sensitive Class = "sensitive"
)

// Field describes one attribute of an entity.
type Field struct {
	Name     string
	Type     FieldType
	Class    Class
	Required bool     // must be present and non-empty on create
	Max      int      // max length in characters for text-like values, max items for lists
	Enum     []string // allowed values for TEnum
	Ref      string   // target entity for TRef
	Filter   bool     // usable as ?name= filter
	Sort     bool     // usable in ?sort=
	System   bool     // set by the server only; rejected in request bodies
	Local    bool     // TDateTime shown also in the viewer's time zone as <name>_local
	Item     []Field  // for TList
	Range    []int64  // for TInt: [min, max] inclusive, nil = any
	Doc      string
}

// Entity describes one CRM object type. Name is both the table name and the
// URL segment.
type Entity struct {
	Name        string
	Singular    string
	Owned       bool     // has owner_id; visibility follows the manager hierarchy
	AdminWrite  bool     // only admins create, update and delete
	NaturalKeys []string // fields the importer may use for lookups and upserts
	Fields      []Field
	Doc         string
}

// Field returns the named field or nil.
func (e *Entity) Field(name string) *Field {
	for i := range e.Fields {
		if e.Fields[i].Name == name {
			return &e.Fields[i]
		}
	}
	return nil
}

// ItemField returns the named sub-field of a list field or nil.
func (f *Field) ItemField(name string) *Field {
	for i := range f.Item {
		if f.Item[i].Name == name {
			return &f.Item[i]
		}
	}
	return nil
}

// System fields every entity has, in column order.
func systemFields(owned bool) []Field {
	fs := []Field{
		{Name: "id", Type: TString, Class: Internal, System: true, Filter: true, Sort: true, Doc: "ULID, time-sortable"},
		{Name: "version", Type: TInt, Class: Internal, System: true, Doc: "incremented on every change; also the ETag"},
		{Name: "created_at", Type: TDateTime, Class: Internal, System: true, Filter: true, Sort: true},
		{Name: "updated_at", Type: TDateTime, Class: Internal, System: true, Filter: true, Sort: true},
		{Name: "created_by", Type: TString, Class: Internal, System: true},
		{Name: "updated_by", Type: TString, Class: Internal, System: true},
	}
	if owned {
		fs = append(fs, Field{Name: "owner_id", Type: TRef, Ref: "users", Class: Internal, Filter: true, Sort: true,
			Doc: "the user who owns the record; defaults to the creator; change it with POST .../{id}/transfer"})
	}
	return fs
}

func entity(e Entity) *Entity {
	e.Fields = append(systemFields(e.Owned), e.Fields...)
	return &e
}

var emailItem = []Field{
	{Name: "type", Type: TEnum, Class: Internal, Enum: []string{"work", "home", "other"}},
	{Name: "value", Type: TEmail, Class: Personal, Required: true, Max: 254},
}

var phoneItem = []Field{
	{Name: "type", Type: TEnum, Class: Internal, Enum: []string{"work", "mobile", "home", "fax", "other"}},
	{Name: "value", Type: TPhone, Class: Personal, Required: true, Max: 64, Doc: "E.164; on input any common notation, normalised with the tenant's default region"},
	{Name: "ext", Type: TString, Class: Personal, Max: 20, System: true, Doc: "extension split off the number"},
	{Name: "original", Type: TString, Class: Personal, Max: 64, System: true, Doc: "the number as it was entered"},
}

// Entities is the registry of CRM objects in dependency order (an entity
// only references entities listed before it, or itself).
var Entities = []*Entity{
	entity(Entity{Name: "teams", Singular: "team", AdminWrite: true, NaturalKeys: []string{"name"},
		Doc: "Teams form the manager hierarchy: a manager sees the records of every member of the teams they manage and of all teams below them.",
		Fields: []Field{
			{Name: "name", Type: TString, Class: Internal, Required: true, Max: 200, Filter: true, Sort: true},
			{Name: "parent_team_id", Type: TRef, Ref: "teams", Class: Internal, Filter: true},
			{Name: "manager_id", Type: TRef, Ref: "users", Class: Internal, Filter: true},
		}}),
	entity(Entity{Name: "users", Singular: "user", AdminWrite: true, NaturalKeys: []string{"email", "name"},
		Fields: []Field{
			{Name: "email", Type: TEmail, Class: Personal, Required: true, Max: 254, Filter: true, Sort: true},
			{Name: "name", Type: TString, Class: Personal, Required: true, Max: 200, Filter: true, Sort: true},
			{Name: "role", Type: TString, Class: Internal, Required: true, Max: 40, Filter: true, Sort: true,
				Doc: "a builtin role (admin, sales_manager, sales_rep, support_agent, marketing, auditor) or one the tenant defined"},
			{Name: "team_id", Type: TRef, Ref: "teams", Class: Internal, Filter: true},
			{Name: "time_zone", Type: TString, Class: Internal, Max: 64, Doc: "IANA time zone, e.g. Europe/Berlin; default UTC"},
			{Name: "active", Type: TBool, Class: Internal, Filter: true},
			{Name: "region", Type: TString, Class: Internal, Max: 100, Filter: true, Sort: true,
				Doc: "the user's territory: roles with territory scope reach records owned by users of the same region"},
		}}),
	entity(Entity{Name: "products", Singular: "product", AdminWrite: true, NaturalKeys: []string{"name", "code"},
		Fields: []Field{
			{Name: "name", Type: TString, Class: Public, Required: true, Max: 200, Filter: true, Sort: true},
			{Name: "code", Type: TString, Class: Public, Max: 64, Filter: true, Sort: true},
			{Name: "family", Type: TString, Class: Public, Max: 100, Filter: true, Sort: true},
			{Name: "price", Type: TMoney, Class: Internal, Sort: true},
			{Name: "currency", Type: TCurrency, Class: Public},
			{Name: "active", Type: TBool, Class: Public, Filter: true},
			{Name: "description", Type: TText, Class: Public, Max: 10000},
		}}),
	entity(Entity{Name: "pipelines", Singular: "pipeline", AdminWrite: true, NaturalKeys: []string{"name"},
		Doc: "A pipeline is an ordered list of stages; an opportunity's stage must be one of its pipeline's stages.",
		Fields: []Field{
			{Name: "name", Type: TString, Class: Internal, Required: true, Max: 200, Filter: true, Sort: true},
			{Name: "is_default", Type: TBool, Class: Internal, Filter: true},
			{Name: "stages", Type: TList, Class: Internal, Required: true, Max: 50, Item: []Field{
				{Name: "name", Type: TString, Class: Internal, Required: true, Max: 100},
				{Name: "probability", Type: TInt, Class: Internal, Range: []int64{0, 100}, Doc: "0-100, default probability of deals in the stage"},
				{Name: "outcome", Type: TEnum, Class: Internal, Enum: []string{"open", "won", "lost"}},
			}},
		}}),
	entity(Entity{Name: "accounts", Singular: "account", Owned: true, NaturalKeys: []string{"name", "external_id"},
		Fields: []Field{
			{Name: "name", Type: TString, Class: Internal, Required: true, Max: 200, Filter: true, Sort: true},
			{Name: "parent_id", Type: TRef, Ref: "accounts", Class: Internal, Filter: true},
			{Name: "industry", Type: TString, Class: Internal, Max: 100, Filter: true, Sort: true},
			{Name: "website", Type: TURL, Class: Public, Max: 500},
			{Name: "phones", Type: TList, Class: Internal, Max: 10, Item: phoneItem},
			{Name: "employees", Type: TInt, Class: Internal, Filter: true, Sort: true, Range: []int64{0, 100_000_000}},
			{Name: "annual_revenue", Type: TMoney, Class: Internal, Sort: true},
			{Name: "currency", Type: TCurrency, Class: Internal},
			{Name: "year_established", Type: TInt, Class: Internal, Filter: true, Sort: true, Range: []int64{1000, 2200}},
			{Name: "country", Type: TString, Class: Internal, Max: 100, Filter: true, Sort: true},
			{Name: "city", Type: TString, Class: Internal, Max: 100, Filter: true, Sort: true},
			{Name: "external_id", Type: TString, Class: Internal, Max: 100, Filter: true},
			{Name: "description", Type: TText, Class: Internal, Max: 10000},
		}}),
	entity(Entity{Name: "contacts", Singular: "contact", Owned: true, NaturalKeys: []string{"email", "external_id"},
		Fields: []Field{
			{Name: "first_name", Type: TString, Class: Personal, Max: 100, Filter: true, Sort: true},
			{Name: "last_name", Type: TString, Class: Personal, Required: true, Max: 100, Filter: true, Sort: true},
			{Name: "account_id", Type: TRef, Ref: "accounts", Class: Internal, Filter: true},
			{Name: "company", Type: TString, Class: Internal, Max: 200, Filter: true, Sort: true, Doc: "company name as given, when not linked to an account"},
			{Name: "title", Type: TString, Class: Internal, Max: 200},
			{Name: "emails", Type: TList, Class: Personal, Max: 20, Item: emailItem},
			{Name: "phones", Type: TList, Class: Personal, Max: 20, Item: phoneItem},
			{Name: "street", Type: TText, Class: Personal, Max: 300, Doc: "may span several lines"},
			{Name: "city", Type: TString, Class: Personal, Max: 100, Filter: true, Sort: true},
			{Name: "region", Type: TString, Class: Personal, Max: 100},
			{Name: "postal_code", Type: TString, Class: Personal, Max: 20},
			{Name: "country", Type: TString, Class: Internal, Max: 100, Filter: true, Sort: true},
			{Name: "website", Type: TURL, Class: Public, Max: 500},
			{Name: "birthday", Type: TDate, Class: Sensitive},
			{Name: "subscribed_on", Type: TDate, Class: Internal, Filter: true, Sort: true},
			{Name: "external_id", Type: TString, Class: Internal, Max: 100, Filter: true},
			{Name: "notes", Type: TText, Class: Sensitive, Max: 10000, Doc: "private notes about the person"},
		}}),
	entity(Entity{Name: "opportunities", Singular: "opportunity", Owned: true, NaturalKeys: []string{"external_id", "name"},
		Fields: []Field{
			{Name: "name", Type: TString, Class: Internal, Required: true, Max: 200, Filter: true, Sort: true},
			{Name: "account_id", Type: TRef, Ref: "accounts", Class: Internal, Filter: true},
			{Name: "pipeline_id", Type: TRef, Ref: "pipelines", Class: Internal, Filter: true, Doc: "defaults to the tenant's default pipeline"},
			{Name: "stage", Type: TString, Class: Internal, Max: 100, Filter: true, Sort: true, Doc: "one of the pipeline's stage names; defaults to the first"},
			{Name: "amount", Type: TMoney, Class: Internal, Filter: true, Sort: true},
			{Name: "currency", Type: TCurrency, Class: Internal, Filter: true},
			{Name: "probability", Type: TInt, Class: Internal, Filter: true, Sort: true, Range: []int64{0, 100}, Doc: "0-100; defaults to the stage's probability"},
			{Name: "expected_close_date", Type: TDate, Class: Internal, Filter: true, Sort: true},
			{Name: "engage_date", Type: TDate, Class: Internal, Filter: true, Sort: true},
			{Name: "close_date", Type: TDate, Class: Internal, Filter: true, Sort: true},
			{Name: "line_items", Type: TList, Class: Internal, Max: 200, Item: []Field{
				{Name: "product_id", Type: TRef, Ref: "products", Class: Internal, Required: true},
				{Name: "quantity", Type: TInt, Class: Internal, Range: []int64{1, 1_000_000_000}},
				{Name: "unit_price", Type: TMoney, Class: Internal},
			}},
			{Name: "external_id", Type: TString, Class: Internal, Max: 100, Filter: true},
			{Name: "description", Type: TText, Class: Internal, Max: 10000},
		}}),
	entity(Entity{Name: "leads", Singular: "lead", Owned: true, NaturalKeys: []string{"email", "external_id"},
		Fields: []Field{
			{Name: "first_name", Type: TString, Class: Personal, Max: 100, Filter: true, Sort: true},
			{Name: "last_name", Type: TString, Class: Personal, Required: true, Max: 100, Filter: true, Sort: true},
			{Name: "company", Type: TString, Class: Internal, Required: true, Max: 200, Filter: true, Sort: true},
			{Name: "title", Type: TString, Class: Internal, Max: 200},
			{Name: "emails", Type: TList, Class: Personal, Max: 20, Item: emailItem},
			{Name: "phones", Type: TList, Class: Personal, Max: 20, Item: phoneItem},
			{Name: "status", Type: TEnum, Class: Internal, Enum: []string{"new", "working", "qualified", "unqualified", "converted"}, Filter: true, Sort: true},
			{Name: "source", Type: TString, Class: Internal, Max: 100, Filter: true},
			{Name: "external_id", Type: TString, Class: Internal, Max: 100, Filter: true},
			{Name: "converted_at", Type: TDateTime, Class: Internal, System: true},
			{Name: "converted_contact_id", Type: TRef, Ref: "contacts", Class: Internal, System: true},
			{Name: "converted_account_id", Type: TRef, Ref: "accounts", Class: Internal, System: true},
			{Name: "converted_opportunity_id", Type: TRef, Ref: "opportunities", Class: Internal, System: true},
		}}),
	entity(Entity{Name: "activities", Singular: "activity", Owned: true,
		Fields: []Field{
			{Name: "type", Type: TEnum, Class: Internal, Required: true, Enum: []string{"task", "call", "meeting"}, Filter: true, Sort: true},
			{Name: "subject", Type: TString, Class: Internal, Required: true, Max: 300, Filter: true, Sort: true},
			{Name: "status", Type: TEnum, Class: Internal, Enum: []string{"open", "done", "canceled"}, Filter: true, Sort: true},
			{Name: "due_at", Type: TDateTime, Class: Internal, Local: true, Filter: true, Sort: true,
				Doc: "RFC 3339 with offset, or a local time without offset read in the acting user's time zone"},
			{Name: "end_at", Type: TDateTime, Class: Internal, Local: true},
			{Name: "account_id", Type: TRef, Ref: "accounts", Class: Internal, Filter: true},
			{Name: "contact_id", Type: TRef, Ref: "contacts", Class: Internal, Filter: true},
			{Name: "opportunity_id", Type: TRef, Ref: "opportunities", Class: Internal, Filter: true},
			{Name: "description", Type: TText, Class: Internal, Max: 10000},
		}}),
	entity(Entity{Name: "cases", Singular: "case", Owned: true, NaturalKeys: []string{"external_id"},
		Fields: []Field{
			{Name: "subject", Type: TString, Class: Internal, Required: true, Max: 300, Filter: true, Sort: true},
			{Name: "status", Type: TEnum, Class: Internal, Enum: []string{"new", "open", "pending", "resolved", "closed"}, Filter: true, Sort: true},
			{Name: "priority", Type: TEnum, Class: Internal, Enum: []string{"low", "medium", "high", "urgent"}, Filter: true, Sort: true},
			{Name: "sla_due_at", Type: TDateTime, Class: Internal, Local: true, Filter: true, Sort: true,
				Doc: "defaults from the priority at creation: urgent 4h, high 8h, medium 24h, low 72h"},
			{Name: "account_id", Type: TRef, Ref: "accounts", Class: Internal, Filter: true},
			{Name: "contact_id", Type: TRef, Ref: "contacts", Class: Internal, Filter: true},
			{Name: "external_id", Type: TString, Class: Internal, Max: 100, Filter: true},
			{Name: "description", Type: TText, Class: Internal, Max: 10000},
		}}),
	entity(Entity{Name: "notes", Singular: "note", Owned: true,
		Doc: "A note is attached to one record of any object; whoever can read that record can read its notes.",
		Fields: []Field{
			{Name: "parent_type", Type: TEnum, Class: Internal, Required: true, Enum: NoteParents, Filter: true},
			{Name: "parent_id", Type: TString, Class: Internal, Required: true, Max: 26, Filter: true},
			{Name: "body", Type: TText, Class: Internal, Required: true, Max: 100000},
		}}),
}

// NoteParents are the entities a note may be attached to.
var NoteParents = []string{"accounts", "contacts", "leads", "opportunities", "activities", "cases"}

// EntityByName returns the entity registered under name, or nil.
func EntityByName(name string) *Entity {
	for _, e := range Entities {
		if e.Name == name {
			return e
		}
	}
	return nil
}
