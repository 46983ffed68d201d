package importer

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/bits-and-blooms/bloom/v3"

	"mcrm"
	"mcrm/normalize"
	"mcrm/record"
	"mcrm/sqlstore"
	"mcrm/tabular"
	"mcrm/vcard"
)

// Options for one import.
type Options struct {
	Entity  *mcrm.Entity
	Mapping *Mapping // nil: columns named after field paths (what Export writes)
	DryRun  bool
	Region  string // tenant default phone region when the mapping names none
	// Overrides replace the mapping's file options (command-line flags).
	Overrides Overrides
	// BeforeCommit, when set, runs after the last row inside the
	// transaction; an error rolls the import back (the API uses it to
	// refuse an upload with parts after the file).
	BeforeCommit func() error
	// UserAdmin says the caller may create users (a lookup with
	// if_missing create on users): the API sets it only after a recent
	// step-up, since a created user is a new sign-in.
	UserAdmin bool
}

// Overrides are file options given outside the mapping.
type Overrides struct {
	Format, Encoding, Delimiter, DateOrder, UpsertKey string
	KeepGoodRows                                      bool
}

func (o Overrides) apply(m *Mapping) {
	for _, kv := range []struct {
		dst *string
		v   string
	}{{&m.Format, o.Format}, {&m.Encoding, o.Encoding}, {&m.Delimiter, o.Delimiter}, {&m.DateOrder, o.DateOrder}, {&m.UpsertKey, o.UpsertKey}} {
		if kv.v != "" {
			*kv.dst = kv.v
		}
	}
	if o.KeepGoodRows {
		m.KeepGoodRows = true
	}
}

// Issue is one problem or note about one row.
type Issue struct {
	Row      int    `json:"row"` // line (CSV), row (XLSX) or card number (vCard); the header is row 1
	Column   string `json:"column,omitempty"`
	Field    string `json:"field,omitempty"`
	Severity string `json:"severity"` // error: the row was not imported; warning: imported as the mapping settled it
	Code     string `json:"code"`
	Message  string `json:"message"`
}

// Report describes what an import did (or, for a dry run or a rolled-back
// import, would have done). Rows = Created + Updated + Failed, always.
type Report struct {
	Entity         string            `json:"entity"`
	Format         string            `json:"format"`
	Encoding       string            `json:"encoding,omitempty"`
	Delimiter      string            `json:"delimiter,omitempty"`
	DryRun         bool              `json:"dry_run"`
	Committed      bool              `json:"committed"`
	Rows           int               `json:"rows"`
	Created        int               `json:"created"`
	Updated        int               `json:"updated"`
	Failed         int               `json:"failed"`
	RowsWithNotes  int               `json:"rows_with_warnings"`
	CreatedRelated map[string]int    `json:"created_related,omitempty"`
	Issues         []Issue           `json:"issues"`
	IssuesOmitted  int               `json:"issues_omitted"` // issues beyond MaxIssues, counted but not listed
	Counts         map[string]int    `json:"issue_counts"`   // code → number of issues, complete
	Outcome        string            `json:"outcome"`        // committed, rolled_back, dry_run
	Detected       *tabular.Detected `json:"-"`
}

// MaxIssues bounds the issues listed in a report so memory stays flat on
// huge files; Counts stays complete.
const MaxIssues = 10000

func (r *Report) add(is Issue) {
	if r.Counts == nil {
		r.Counts = map[string]int{}
	}
	r.Counts[is.Code]++
	if len(r.Issues) >= MaxIssues {
		r.IssuesOmitted++
		return
	}
	r.Issues = append(r.Issues, is)
}

// rowSource yields rows as field-path → raw value maps.
type rowSource interface {
	next() (row int, in map[string]any, notes []Issue, err error)
}

// Import reads src and writes its rows as records of opts.Entity on behalf
// of p, in one transaction. Unless the mapping keeps good rows, one failed
// row rolls back everything; a dry run always rolls back. Reading streams,
// so memory stays flat as the file grows.
func Import(ctx context.Context, db *sqlstore.DB, p *mcrm.Principal, src io.Reader, opts Options) (*Report, error) {
	e := opts.Entity
	m := &Mapping{}
	if opts.Mapping != nil {
		copied := *opts.Mapping
		m = &copied
	}
	opts.Overrides.apply(m)
	if err := sqlstore.CanWrite(p, e); err != nil {
		return nil, err
	}
	rep := &Report{Entity: e.Name, DryRun: opts.DryRun, Issues: []Issue{}, Counts: map[string]int{}}
	br := bufio.NewReaderSize(src, 64<<10)
	sample, _ := br.Peek(4096)
	var rows rowSource
	region := m.Region
	if region == "" {
		region = opts.Region
	}
	loc := time.UTC
	if m.TimeZone != "" {
		l, err := time.LoadLocation(m.TimeZone)
		if err != nil {
			return nil, mcrm.FieldErr("time_zone", "invalid_time_zone", "not an IANA time zone")
		}
		loc = l
	}
	if m.Format == "vcard" || (m.Format == "" && vcard.Detect(sample)) {
		if e.Field("emails") == nil {
			return nil, mcrm.Errorf(mcrm.EInvalid, "vCards import as contacts or leads, not %s", e.Name)
		}
		cards, err := vcard.Parse(br)
		if err != nil {
			return nil, mcrm.Errorf(mcrm.EInvalid, "vCard: %v", err)
		}
		rep.Format = "vcard"
		rows = &cardRows{cards: cards, entity: e}
	} else {
		tr, err := tabular.Open(br, tabular.Options{Format: m.Format, Encoding: m.Encoding, Delimiter: m.Delimiter, Sheet: m.Sheet})
		if err != nil {
			return nil, mcrm.Errorf(mcrm.EInvalid, "file: %v", err)
		}
		defer tr.Close()
		det := tr.Detected()
		rep.Format, rep.Encoding, rep.Delimiter, rep.Detected = det.Format, det.Encoding, det.Delimiter, &det
		if opts.Mapping == nil {
			id := identityMapping(e, tr.Header())
			m.Columns, m.Ignore = id.Columns, id.Ignore
			if m.UpsertKey == "" {
				m.UpsertKey = id.UpsertKey
			}
		}
		if err := m.validate(e, tr.Header()); err != nil {
			return nil, err
		}
		if err := m.checkFieldAccess(p, e); err != nil {
			return nil, err
		}
		if !opts.UserAdmin && !p.System && m.createsUsers() {
			return nil, &mcrm.Error{Code: mcrm.EStepUpRequired, Message: "a mapping that creates users needs a strong authentication in the last 5 minutes"}
		}
		rows = &tableRows{r: tr, m: m, e: e, header: tr.Header()}
	}
	if m.UpsertKey != "" && !upsertable(e, m.UpsertKey) {
		return nil, mcrm.FieldErr("upsert_key", "invalid", "cannot match records of "+e.Name+" by "+m.UpsertKey)
	}
	run := &run{p: p, e: e, m: m, rep: rep, region: region, loc: loc, cache: map[string]string{}, managedTeam: map[string]string{}, queuedKeys: map[string]bool{}}
	work := func(tx *sqlstore.Tx) error {
		run.tx = tx
		tx.BufferPoints = true
		if err := run.all(ctx, rows); err != nil {
			return err
		}
		if opts.BeforeCommit != nil {
			if err := opts.BeforeCommit(); err != nil {
				return err
			}
		}
		if rep.Failed > 0 && !m.KeepGoodRows {
			return errRolledBack
		}
		return nil
	}
	var err error
	if opts.DryRun {
		err = db.DryRun(ctx, work)
	} else {
		err = db.InTx(ctx, work)
	}
	switch {
	case errors.Is(err, errRolledBack):
		rep.Outcome = "rolled_back"
	case err != nil:
		return nil, err
	case opts.DryRun:
		rep.Outcome = "dry_run"
	default:
		rep.Outcome, rep.Committed = "committed", true
	}
	return rep, nil
}

var errRolledBack = errors.New("import rolled back")

// identityMapping maps columns named after field paths onto themselves,
// the shape Export writes. An id column becomes the upsert key, so an
// exported file edited and imported back updates the same records.
// References (owner, account, product ...) are looked up by id; in another
// tenant they do not exist and are left empty with a warning on the row
// (the owner then defaults to the importing user). Other server-set columns
// (version, timestamps) are ignored.
func identityMapping(e *mcrm.Entity, header []string) *Mapping {
	m := &Mapping{Columns: map[string]ColumnList{}}
	for _, h := range header {
		if h == "id" {
			m.UpsertKey = "id"
			m.Columns[h] = ColumnList{{Field: "id"}}
			continue
		}
		f, sub := resolvePath(e, h)
		if f != nil && f.System && f.Name != "owner_id" || strings.HasSuffix(h, ".ext") || strings.HasSuffix(h, ".original") {
			m.Ignore = append(m.Ignore, h)
			continue
		}
		target := f
		if sub != nil {
			target = sub
		}
		c := Column{Field: h}
		if target != nil && target.Type == mcrm.TRef {
			c.IfEmpty = "null"
			c.Lookup = &Lookup{Entity: target.Ref, By: "id", IfMissing: "null"}
		}
		m.Columns[h] = ColumnList{c}
	}
	return m
}

type run struct {
	p      *mcrm.Principal
	e      *mcrm.Entity
	m      *Mapping
	tx     *sqlstore.Tx
	rep    *Report
	region string
	loc    *time.Location
	cache  map[string]string // entity|by|key → id
	// rowCache and rowTeams list what the current row added to cache and
	// managedTeam, to forget if the row is rolled back.
	rowCache []string
	rowTeams []string
	// batching queues new rows (see flush); queuedKeys holds their upsert
	// keys so a later row with the same key flushes them first.
	batching   bool
	queue      []queued
	queuedKeys map[string]bool
	// fresh holds the upsert keys this import wrote, when the tenant had
	// none before it (see all); nil otherwise.
	fresh *bloom.BloomFilter
	// managedTeam caches the team each manager leads (users imports).
	managedTeam map[string]string
	deferred    []deferredRef
}

// deferredRef is a reference to a record of the entity being imported that
// may appear further down the file (a parent account listed after its
// subsidiary). It is resolved after the last row.
type deferredRef struct {
	row    int
	column string
	field  string
	id     string
	by     string
	key    string
}

// rowError is a problem that fails one row.
type rowError struct{ issues []Issue }

func (e *rowError) Error() string { return "row failed" }

// prepared is a row after the side-effect-free stage: cells converted and
// validated, lookups still to resolve.
type prepared struct {
	row       int
	id        string // the row's id column, when the upsert key is id
	values    record.Values
	refs      []ref
	reportsTo *pending
	notes     []Issue
	err       error // *rowError: the row fails; anything else ends the import
}

// ref is a lookup waiting at a field path.
type ref struct {
	path string
	pl   *pending
}

// placeholderID stands in for a looked-up id while the row is validated
// outside the transaction; the real id replaces it before the write.
const placeholderID = "00000000000000000000000000"

// all runs the import as a two-stage pipeline: one goroutine reads and
// validates rows (parsing, phone and date normalisation: pure CPU work),
// while this one resolves references and writes in the transaction, so
// on two cores the two halves overlap.
func (r *run) all(ctx context.Context, rows rowSource) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch := make(chan prepared, 256)
	producerCtx := ctx
	go func() {
		ctx := producerCtx
		defer close(ch)
		for {
			row, in, notes, err := rows.next()
			if err == io.EOF {
				return
			}
			var pr prepared
			if err != nil {
				pr = prepared{row: row, err: err}
			} else {
				pr = r.prepare(row, in, notes)
			}
			select {
			case ch <- pr:
			case <-ctx.Done():
				return
			}
			if err != nil && !isRowError(err) {
				return
			}
		}
	}()
	savepoints := r.m.KeepGoodRows || r.tx.Dialect() == sqlstore.Postgres
	// New rows are inserted in batches when nothing needs per-row undo and
	// the entity has no rule that reads other rows of its own kind while
	// they are written (users, teams and pipelines do).
	r.batching = !savepoints && batchable[r.e.Name]
	if r.batching && r.m.UpsertKey != "" && r.m.UpsertKey != "id" {
		// In a tenant with no record carrying an upsert key yet, a key can
		// only match a row this import wrote; a Bloom filter of those (fixed
		// size, so memory stays flat) answers "certainly not" for most rows
		// without a query. "Maybe" still asks the database.
		any, err := r.tx.HasAnyValue(ctx, r.p.TenantID, r.e, r.m.UpsertKey)
		if err != nil {
			return err
		}
		if !any {
			r.fresh = bloom.NewWithEstimates(1_000_000, 0.01)
		}
	}
	// Statements get a context without cancellation: with a cancellable
	// one the SQLite driver starts a watcher goroutine per statement, which
	// costs more than the insert. Cancellation is still honoured between
	// rows, and cancelling the outer context rolls the transaction back.
	outer := ctx
	ctx = context.WithoutCancel(ctx)
	for pr := range ch {
		if err := outer.Err(); err != nil {
			return err
		}
		r.rep.Rows++
		r.rowCache, r.rowTeams = r.rowCache[:0], r.rowTeams[:0]
		if pr.err != nil {
			if !isRowError(pr.err) {
				return mcrm.Errorf(mcrm.EInvalid, "file: %v", pr.err)
			}
			r.fail(pr.row, warningsThenErrors(pr.notes, pr.err.(*rowError).issues))
			continue
		}
		// A savepoint per row lets a failed row be undone while the others
		// stay (keep_good_rows), and lets PostgreSQL go on after an error.
		// On SQLite without keep_good_rows a failure rolls everything back
		// at the end anyway, and a failed statement does not abort the
		// transaction, so the savepoint is skipped (it costs a third of
		// the write time).
		if savepoints {
			if err := r.tx.Savepoint(ctx); err != nil {
				return err
			}
		}
		created, warnings, err := r.apply(ctx, pr)
		warnings = append(pr.notes, warnings...)
		if err == errQueued {
			r.queue[len(r.queue)-1].warnings = warnings // the row's notes and its lookups' warnings
			if len(r.queue) >= queueSize {
				if err := r.flush(ctx); err != nil {
					return err
				}
			}
			continue
		}
		if err != nil {
			if savepoints {
				if rbErr := r.tx.RollbackToSavepoint(ctx); rbErr != nil {
					return rbErr
				}
				// Records this row created are gone: so are their cache entries.
				for _, k := range r.rowCache {
					delete(r.cache, k)
				}
				for _, m := range r.rowTeams {
					delete(r.managedTeam, m)
				}
			}
			var re *rowError
			if !errors.As(err, &re) {
				return err
			}
			r.fail(pr.row, warningsThenErrors(warnings, re.issues))
			continue
		}
		if savepoints {
			if err := r.tx.ReleaseSavepoint(ctx); err != nil {
				return err
			}
		}
		r.succeed(pr.row, created, warnings)
	}
	if err := outer.Err(); err != nil {
		return err
	}
	if err := r.flush(ctx); err != nil {
		return err
	}
	return r.resolveDeferred(ctx)
}

func warningsThenErrors(warnings, errs []Issue) []Issue {
	out := make([]Issue, 0, len(warnings)+len(errs))
	for _, w := range warnings {
		w.Severity = "warning"
		out = append(out, w)
	}
	return append(out, errs...)
}

func (r *run) fail(row int, issues []Issue) {
	r.rep.Failed++
	for _, is := range issues {
		is.Row = row
		if is.Severity == "" {
			is.Severity = "error"
		}
		r.rep.add(is)
	}
}

// prepare converts and validates a row without touching the database.
func (r *run) prepare(row int, in map[string]any, notes []Issue) prepared {
	pr := prepared{row: row, notes: notes}
	if id, ok := in["id"]; ok {
		pr.id, _ = id.(string)
		delete(in, "id")
	}
	for path, v := range flatten(in) {
		pl, ok := v.(*pending)
		if !ok {
			continue
		}
		if path == "reports_to" {
			pr.reportsTo = pl
			delete(in, path)
			continue
		}
		pr.refs = append(pr.refs, ref{path: path, pl: pl})
		setPath(in, path, placeholderID)
	}
	if rt, ok := in["reports_to"]; ok {
		// reports_to without a lookup cannot name a user.
		delete(in, "reports_to")
		if rt != nil {
			pr.err = &rowError{issues: []Issue{{Field: "reports_to", Code: "invalid_mapping", Message: "reports_to needs a lookup"}}}
			return pr
		}
	}
	res, err := record.Decode(r.e, dropNil(in), record.Options{Partial: true, FromText: true, Lenient: true, Region: r.region, Loc: r.loc})
	if err != nil {
		pr.err = asRowError(err, "")
		return pr
	}
	for _, w := range res.Warnings {
		pr.notes = append(pr.notes, Issue{Field: w.Field, Code: w.Code, Message: w.Message})
	}
	pr.values = res.Values
	return pr
}

// apply resolves the row's references and creates or updates its record.
func (r *run) apply(ctx context.Context, pr prepared) (bool, []Issue, error) {
	var warnings, errs []Issue
	var defs []deferredRef
	values := pr.values
	for _, rf := range pr.refs {
		id, warn, def, err := r.resolve(ctx, rf.pl)
		if err != nil {
			var re *rowError
			if errors.As(err, &re) {
				errs = append(errs, re.issues...)
				continue
			}
			return false, nil, err
		}
		warnings = append(warnings, warn...)
		if def != nil {
			def.field = rf.path
			def.row = pr.row
			defs = append(defs, *def)
		}
		setValue(values, rf.path, id)
	}
	if pr.reportsTo != nil {
		id, warn, _, err := r.resolve(ctx, pr.reportsTo)
		if err != nil {
			var re *rowError
			if !errors.As(err, &re) {
				return false, nil, err
			}
			errs = append(errs, re.issues...)
		} else {
			warnings = append(warnings, warn...)
			if s, _ := id.(string); s != "" {
				if err := r.reportsTo(ctx, values, s); err != nil {
					return false, warnings, err
				}
			}
		}
	}
	if len(errs) > 0 {
		return false, warnings, &rowError{issues: errs}
	}
	var existing string
	var err error
	if r.m.UpsertKey == "id" {
		if pr.id != "" {
			existing, err = r.lookupID(ctx, r.e, "id", pr.id, false)
			if err == nil && existing == "" {
				// Not a record the caller has (another tenant's export, a
				// deleted or invisible record): a new one is made, and the
				// row says so.
				warnings = append(warnings, Issue{Column: "id", Field: "id", Code: "id_not_found_created", Message: "no record with this id; a new record was created"})
			}
		}
	} else {
		existing, err = r.findExisting(ctx, values)
	}
	if err != nil {
		return false, warnings, err
	}
	var saved record.Values
	if existing != "" {
		saved, err = r.tx.UpdateWithOwner(ctx, r.p, r.e, existing, -1, values)
	} else {
		if missing := record.MissingRequired(r.e, values); len(missing) > 0 {
			return false, warnings, asRowError(&mcrm.Error{Code: mcrm.EInvalid, Message: "validation failed", Fields: missing}, "")
		}
		if r.batching {
			saved, err = r.tx.PrepareCreate(ctx, r.p, r.e, values)
		} else {
			saved, err = r.tx.Create(ctx, r.p, r.e, values)
		}
	}
	if err != nil {
		return false, warnings, asRowError(err, "")
	}
	for i := range defs {
		defs[i].id = saved["id"].(string)
	}
	r.deferred = append(r.deferred, defs...)
	if r.fresh != nil && existing == "" {
		if key := upsertKeyValue(r.e, r.m.UpsertKey, values); key != "" {
			r.fresh.AddString(key)
		}
	}
	if r.batching && existing == "" {
		r.queue = append(r.queue, queued{row: pr.row, values: saved, warnings: warnings})
		if key := upsertKeyValue(r.e, r.m.UpsertKey, values); r.m.UpsertKey != "" && key != "" {
			r.queuedKeys[key] = true
		}
		return true, warnings, errQueued
	}
	return existing == "", warnings, nil
}

// errQueued says a row was checked and waits in the insert queue; it is
// counted when the queue is written.
var errQueued = errors.New("queued")

// queued is a checked row waiting to be inserted with others.
type queued struct {
	row      int
	values   record.Values
	warnings []Issue
}

// flush inserts the queued rows, several per statement. If a statement
// fails (a duplicate key, say), nothing of it was written and the rows are
// inserted one at a time so that the failure lands on its own row: this
// path runs only without savepoints, on SQLite, where a failed statement
// leaves the transaction usable.
func (r *run) flush(ctx context.Context) error {
	if len(r.queue) == 0 {
		return nil
	}
	q := r.queue
	r.queue, r.queuedKeys = r.queue[:0:0], map[string]bool{}
	rows := make([]record.Values, len(q))
	for i := range q {
		rows[i] = q[i].values
	}
	done, err := r.tx.InsertPrepared(ctx, r.p, r.e, rows)
	for _, qr := range q[:done] {
		r.succeed(qr.row, true, qr.warnings)
	}
	if err == nil {
		return nil
	}
	if !isRowError(asRowError(err, "")) {
		return err
	}
	for _, qr := range q[done:] {
		if _, err := r.tx.InsertPrepared(ctx, r.p, r.e, []record.Values{qr.values}); err != nil {
			re := asRowError(err, "")
			if !isRowError(re) {
				return err
			}
			r.fail(qr.row, warningsThenErrors(qr.warnings, re.(*rowError).issues))
			r.dropDeferred(qr.values["id"].(string))
			continue
		}
		r.succeed(qr.row, true, qr.warnings)
	}
	return nil
}

// dropDeferred forgets the deferred references of a row that was not
// inserted after all.
func (r *run) dropDeferred(id string) {
	kept := r.deferred[:0]
	for _, d := range r.deferred {
		if d.id != id {
			kept = append(kept, d)
		}
	}
	r.deferred = kept
}

// succeed counts an imported row and records its warnings.
func (r *run) succeed(row int, created bool, warnings []Issue) {
	if created {
		r.rep.Created++
	} else {
		r.rep.Updated++
	}
	if len(warnings) > 0 {
		r.rep.RowsWithNotes++
		for _, w := range warnings {
			w.Row, w.Severity = row, "warning"
			r.rep.add(w)
		}
	}
}

// setValue puts a resolved id (or nil: left empty) at a path of decoded
// values; list items are []map[string]any there.
func setValue(v record.Values, path string, id any) {
	parts := strings.Split(path, ".")
	if len(parts) == 1 {
		if id == nil {
			delete(v, path)
		} else {
			v[path] = id
		}
		return
	}
	n, _ := strconv.Atoi(parts[1])
	items, _ := v[parts[0]].([]map[string]any)
	for len(items) <= n {
		items = append(items, map[string]any{})
	}
	if id == nil {
		delete(items[n], parts[2])
	} else {
		items[n][parts[2]] = id
	}
	v[parts[0]] = items
}

// dropNil removes empty values: on create absent and empty mean the same,
// and on an upsert an empty cell must not clear what the record has.
func dropNil(in map[string]any) map[string]any {
	for k, v := range in {
		if v == nil {
			delete(in, k)
		}
	}
	return in
}

// asRowError turns a domain error into the issues of a failed row;
// failures of the database itself abort the import.
func asRowError(err error, column string) error {
	var me *mcrm.Error
	if !errors.As(err, &me) || me.Code == mcrm.EInternal || me.Code == mcrm.EUnavailable {
		return err
	}
	if len(me.Fields) == 0 {
		return &rowError{issues: []Issue{{Column: column, Code: string(me.Code), Message: me.Message}}}
	}
	out := make([]Issue, len(me.Fields))
	for i, f := range me.Fields {
		out[i] = Issue{Column: column, Field: f.Field, Code: f.Code, Message: f.Message}
	}
	return &rowError{issues: out}
}

func upsertKeyValue(e *mcrm.Entity, key string, v record.Values) string {
	if key == "email" && e.Field("emails") != nil {
		emails, _ := v["emails"].([]map[string]any)
		for _, it := range emails {
			if s, _ := it["value"].(string); s != "" {
				return normalize.EmailKey(s) // validated by Decode
			}
		}
		return ""
	}
	s, _ := v[key].(string)
	if key == "email" {
		s = strings.ToLower(s)
	}
	return s
}

// findExisting finds the record the row updates, by the upsert key.
func (r *run) findExisting(ctx context.Context, values record.Values) (string, error) {
	if r.m.UpsertKey == "" {
		return "", nil
	}
	key := upsertKeyValue(r.e, r.m.UpsertKey, values)
	if key == "" {
		return "", nil
	}
	if r.fresh != nil && !r.fresh.TestString(key) {
		return "", nil
	}
	if r.queuedKeys[key] {
		// An earlier row of the file has this key and waits in the queue.
		if err := r.flush(ctx); err != nil {
			return "", err
		}
	}
	return r.lookupID(ctx, r.e, r.m.UpsertKey, key, false)
}

// lookupID returns the id of the one live record of e with by = key in the
// caller's scope, "" when there is none, and a row error when several match.
// cache keeps a found id for later rows: worth it for related records (the
// same owner or account on thousands of rows), not for upsert keys, which
// are mostly unique and would make memory grow with the file.
func (r *run) lookupID(ctx context.Context, e *mcrm.Entity, by, key string, cache bool) (string, error) {
	ck := e.Name + "|" + by + "|" + key
	if e == r.e && !(by == r.m.UpsertKey && !r.queuedKeys[key]) {
		// Rows of the entity being imported may wait in the queue.
		if err := r.flush(ctx); err != nil {
			return "", err
		}
	}
	if id, ok := r.cache[ck]; ok {
		return id, nil
	}
	var ids []string
	var err error
	if by == "id" {
		if _, gerr := r.tx.Get(ctx, r.p, e, key); gerr == nil {
			ids = []string{key}
		} else if mcrm.ErrorCode(gerr) != mcrm.ENotFound {
			err = gerr
		}
	} else {
		ids, err = r.tx.FindIDs(ctx, r.p, e, by, key)
	}
	if err != nil {
		return "", err
	}
	switch len(ids) {
	case 0:
		return "", nil
	case 1:
		if cache {
			r.remember(ck, ids[0])
		}
		return ids[0], nil
	}
	return "", &rowError{issues: []Issue{{Field: by, Code: "ambiguous_match", Message: fmt.Sprintf("more than one %s has this %s", e.Singular, by)}}}
}

// remember caches a lookup result, noting it for the current row.
func (r *run) remember(ck, id string) {
	if len(r.cache) >= maxCache {
		// Only a cache: past its bound it starts over, and lookups go to
		// the database (which sees this transaction's rows) until it fills.
		r.cache, r.rowCache = map[string]string{}, r.rowCache[:0]
	}
	r.cache[ck] = id
	r.rowCache = append(r.rowCache, ck)
}

// batchable are the entities whose imports insert new rows in batches.
var batchable = map[string]bool{"accounts": true, "contacts": true, "leads": true, "opportunities": true, "activities": true, "cases": true, "notes": true}

// queueSize is how many checked rows wait before they are inserted.
const queueSize = 256

// maxCache bounds the lookup cache so memory stays flat on huge files.
const maxCache = 100000

// pending is a cell waiting to be resolved to a record id.
type pending struct {
	column string
	raw    string // cell before transforms
	key    string // cell after value map and transforms
	col    Column
}

func (r *run) resolve(ctx context.Context, pl *pending) (any, []Issue, *deferredRef, error) {
	lk := pl.col.Lookup
	le := mcrm.EntityByName(lk.Entity)
	by := lk.By
	key := pl.key
	if by == "email" {
		if k, err := normalize.Email(key); err == nil {
			key = k
		}
	}
	id, err := r.lookupID(ctx, le, by, key, true)
	if err != nil {
		var re *rowError
		if errors.As(err, &re) {
			for i := range re.issues {
				re.issues[i].Column = pl.column
			}
		}
		return nil, nil, nil, err
	}
	if id != "" {
		return id, nil, nil, nil
	}
	switch lk.IfMissing {
	case "null":
		return nil, []Issue{{Column: pl.column, Field: pl.col.Field, Code: "lookup_not_found_set_null", Message: fmt.Sprintf("no %s with this %s; left empty as the mapping says", le.Singular, by)}}, nil, nil
	case "create":
		values := map[string]any{by: pl.key}
		for k, v := range lk.Create {
			if v == "$raw" {
				v = pl.raw
			}
			values[k] = v
		}
		res, err := record.Decode(le, values, record.Options{FromText: true, Region: r.region, Loc: r.loc})
		if err != nil {
			return nil, nil, nil, asRowError(err, pl.column)
		}
		if le == r.e {
			// A record of the imported entity made outside the row path:
			// the filter would not know its key.
			r.fresh = nil
		}
		created, err := r.tx.Create(ctx, r.p, le, res.Values)
		if err != nil {
			return nil, nil, nil, asRowError(err, pl.column)
		}
		id := created["id"].(string)
		r.remember(le.Name+"|"+by+"|"+key, id)
		if r.rep.CreatedRelated == nil {
			r.rep.CreatedRelated = map[string]int{}
		}
		r.rep.CreatedRelated[le.Name]++
		return id, []Issue{{Column: pl.column, Field: pl.col.Field, Code: "related_created", Message: "created the missing " + le.Singular}}, nil, nil
	}
	if le == r.e {
		// May be defined further down the file: settle after the last row.
		return nil, nil, &deferredRef{column: pl.column, by: by, key: key}, nil
	}
	return nil, nil, nil, &rowError{issues: []Issue{{Column: pl.column, Field: pl.col.Field, Code: "lookup_not_found", Message: fmt.Sprintf("no %s with this %s", le.Singular, by)}}}
}

// resolveDeferred links rows to records that appeared later in the file.
func (r *run) resolveDeferred(ctx context.Context) error {
	for _, d := range r.deferred {
		id, err := r.lookupID(ctx, r.e, d.by, d.key, false)
		if err != nil && !isRowError(err) {
			return err
		}
		if id != "" && err == nil {
			if _, err := r.tx.Update(ctx, r.p, r.e, d.id, -1, record.Values{d.field: id}); err == nil {
				continue
			} else if !isRowError(asRowError(err, d.column)) {
				return err
			}
		}
		// The row was counted as imported; it now fails.
		if err := r.tx.Discard(ctx, r.p, r.e, d.id); err != nil {
			return err
		}
		r.rep.Created--
		r.fail(d.row, []Issue{{Column: d.column, Field: d.field, Code: "lookup_not_found", Message: fmt.Sprintf("no %s with this %s anywhere in the file or the database", r.e.Singular, d.by)}})
	}
	return nil
}

func isRowError(err error) bool {
	var re *rowError
	return errors.As(err, &re)
}

// reportsTo places the row's user in the team that manager leads (created
// "<manager> team" under the row's team when there is none), and puts a
// manager without a team into the row's team.
func (r *run) reportsTo(ctx context.Context, in record.Values, managerID string) error {
	users := mcrm.EntityByName("users")
	teams := mcrm.EntityByName("teams")
	rowTeam, _ := in["team_id"].(string)
	teamID, ok := r.managedTeam[managerID]
	if !ok {
		rows, _, err := r.tx.List(ctx, r.p, teams, sqlstore.ListQuery{Filters: []sqlstore.Filter{{Field: "manager_id", Op: "eq", Value: managerID}}, Limit: 1})
		if err != nil {
			return err
		}
		if len(rows) == 1 {
			teamID = rows[0]["id"].(string)
		}
	}
	mgr, err := r.tx.Get(ctx, r.p, users, managerID)
	if err != nil {
		return err
	}
	if teamID == "" {
		v := record.Values{"name": mgr["name"].(string) + " team", "manager_id": managerID}
		if rowTeam != "" {
			v["parent_team_id"] = rowTeam
		}
		t, err := r.tx.Create(ctx, r.p, teams, v)
		if err != nil {
			return asRowError(err, "")
		}
		teamID = t["id"].(string)
		if r.rep.CreatedRelated == nil {
			r.rep.CreatedRelated = map[string]int{}
		}
		r.rep.CreatedRelated["teams"]++
	}
	if _, known := r.managedTeam[managerID]; !known {
		r.rowTeams = append(r.rowTeams, managerID)
	}
	r.managedTeam[managerID] = teamID
	if mgr["team_id"] == nil && rowTeam != "" {
		if _, err := r.tx.Update(ctx, r.p, users, managerID, -1, record.Values{"team_id": rowTeam}); err != nil {
			return asRowError(err, "")
		}
	}
	in["team_id"] = teamID
	return nil
}

// flatten lists every value of in by path, descending into list items.
func flatten(in map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range in {
		if items, ok := v.([]any); ok {
			for i, it := range items {
				if m, ok := it.(map[string]any); ok {
					for sk, sv := range m {
						out[k+"."+strconv.Itoa(i)+"."+sk] = sv
					}
				}
			}
			continue
		}
		out[k] = v
	}
	return out
}

// setPath sets a value at a field path, growing list items as needed.
func setPath(in map[string]any, path string, v any) {
	parts := strings.Split(path, ".")
	if len(parts) == 1 {
		in[path] = v
		return
	}
	n, _ := strconv.Atoi(parts[1])
	items, _ := in[parts[0]].([]any)
	for len(items) <= n {
		items = append(items, map[string]any{})
	}
	items[n].(map[string]any)[parts[2]] = v
	in[parts[0]] = items
}

func getPath(in map[string]any, path string) (any, bool) {
	parts := strings.Split(path, ".")
	if len(parts) == 1 {
		v, ok := in[path]
		return v, ok
	}
	n, _ := strconv.Atoi(parts[1])
	items, _ := in[parts[0]].([]any)
	if n >= len(items) {
		return nil, false
	}
	v, ok := items[n].(map[string]any)[parts[2]]
	return v, ok
}
