package google

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/herdhq/herd/node/places"
)

// NearbySearchPath is the legacy Nearby Search endpoint.
const NearbySearchPath = "/maps/api/place/nearbysearch/json"

// Legacy is the "google-legacy" provider: the classic Nearby Search, its
// answers passed through with every result field kept.
type Legacy struct{ base }

var _ places.Provider = (*Legacy)(nil)

// NewLegacy checks cfg and returns the provider. It does no I/O.
func NewLegacy(cfg Config) (*Legacy, error) {
	b, err := newBase(cfg, DefaultLegacyBaseURL)
	if err != nil {
		return nil, err
	}
	return &Legacy{b}, nil
}

// Name is the provider's name in the herd file.
func (*Legacy) Name() string { return NameLegacy }

// Close drops idle upstream connections. Safe to call twice.
func (l *Legacy) Close() { l.close() }

// legacyStatuses are the statuses the classic API documents; anything
// else is reported as UNKNOWN_ERROR.
var legacyStatuses = map[string]bool{
	places.StatusOK: true, places.StatusZeroResults: true, places.StatusOverQueryLimit: true,
	places.StatusRequestDenied: true, places.StatusInvalidRequest: true, places.StatusUnknownError: true,
}

// num renders a coordinate or radius as a plain decimal: never an
// exponent, never a '+', which a query string would read as a space.
func num(x float64) string { return strconv.FormatFloat(x, 'f', -1, 64) }

// Nearby runs one Nearby Search call. Upstream failures come back as a
// classic status; the error is non-nil only if ctx was already done.
func (l *Legacy) Nearby(ctx context.Context, q places.Query) (places.Response, error) {
	if err := ctx.Err(); err != nil {
		return places.Response{}, fmt.Errorf("nearby search: %w", err)
	}
	if msg := checkQuery(q); msg != "" {
		return l.failure(places.StatusInvalidRequest, msg), nil
	}
	// Built by hand to keep the comma of location readable; only the key
	// can hold characters that need escaping.
	query := "location=" + num(q.Lat) + "," + num(q.Lng) + "&radius=" + num(q.RadiusM) + "&key=" + url.QueryEscape(l.key)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, l.url+NearbySearchPath+"?"+query, nil)
	if err != nil {
		return l.failure(places.StatusUnknownError, "build upstream request failed"), nil
	}
	resp, err := l.client.Do(req)
	if err != nil {
		return l.transportFailure(err), nil
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, l.max+1))
	if err != nil {
		return l.transportFailure(err), nil
	}
	if int64(len(raw)) > l.max {
		return l.failure(places.StatusUnknownError, fmt.Sprintf("upstream response larger than %d bytes", l.max)), nil
	}
	if resp.StatusCode != http.StatusOK {
		return l.failure(places.StatusUnknownError, fmt.Sprintf("Nearby Search answered HTTP %d", resp.StatusCode)), nil
	}
	var body struct {
		HTMLAttributions []string          `json:"html_attributions"`
		Results          []json.RawMessage `json:"results"`
		Status           string            `json:"status"`
		ErrorMessage     string            `json:"error_message"`
	}
	if err := json.Unmarshal(raw, &body); err != nil {
		return l.failure(places.StatusUnknownError, "undecodable upstream response: "+err.Error()), nil
	}
	if !legacyStatuses[body.Status] {
		return l.failure(places.StatusUnknownError, fmt.Sprintf("Nearby Search answered unknown status %q", body.Status)), nil
	}
	res := places.Response{
		HTMLAttributions: body.HTMLAttributions,
		Results:          make([]json.RawMessage, 0, min(len(body.Results), q.Limit)),
		Status:           body.Status,
		ErrorMessage:     l.redact(body.ErrorMessage),
	}
	if res.HTMLAttributions == nil {
		res.HTMLAttributions = []string{}
	}
	if res.Status != places.StatusOK && res.Status != places.StatusZeroResults && res.ErrorMessage == "" {
		res.ErrorMessage = "Nearby Search answered " + res.Status
	}
	for _, r := range body.Results {
		if len(res.Results) == q.Limit {
			break
		}
		// Compacting copies the result out of the whole body, so a cached
		// response holds only what it keeps.
		var c bytes.Buffer
		if err := json.Compact(&c, r); err != nil || c.Len() == 0 || c.Bytes()[0] != '{' {
			continue // not an object: nothing a client could use
		}
		res.Results = append(res.Results, c.Bytes())
	}
	return res, nil
}
