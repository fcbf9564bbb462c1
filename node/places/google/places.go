package google

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/herdhq/herd/node/places"
)

// SearchNearbyPath is the Places API (New) Nearby Search endpoint.
const SearchNearbyPath = "/v1/places:searchNearby"

// FieldMask lists exactly the Place fields the mapping to the classic shape
// reads. Billing follows the fields named (rating, userRatingCount and
// priceLevel put a call in the Nearby Search Enterprise SKU); drop them
// here and in toClassic together.
const FieldMask = "places.id,places.displayName,places.location,places.viewport," +
	"places.shortFormattedAddress,places.formattedAddress,places.types," +
	"places.rating,places.userRatingCount,places.businessStatus,places.priceLevel," +
	"places.iconMaskBaseUri,places.iconBackgroundColor,places.plusCode"

// Places is the "google" provider: Places API (New) searchNearby, answers
// mapped to classic Nearby Search results.
type Places struct{ base }

var _ places.Provider = (*Places)(nil)

// NewPlaces checks cfg and returns the provider. It does no I/O.
func NewPlaces(cfg Config) (*Places, error) {
	b, err := newBase(cfg, DefaultNewBaseURL)
	if err != nil {
		return nil, err
	}
	return &Places{b}, nil
}

// Name is the provider's name in the herd file.
func (*Places) Name() string { return NameNew }

// Close drops idle upstream connections. Safe to call twice.
func (p *Places) Close() { p.close() }

type latLng struct {
	Latitude  float64 `json:"latitude"`
	Longitude float64 `json:"longitude"`
}

type circle struct {
	Center latLng  `json:"center"`
	Radius float64 `json:"radius"`
}

type searchNearbyRequest struct {
	MaxResultCount      int `json:"maxResultCount"`
	LocationRestriction struct {
		Circle circle `json:"circle"`
	} `json:"locationRestriction"`
}

// newPlace is a Place of the Places API (New), only the masked fields.
type newPlace struct {
	ID          string `json:"id"`
	DisplayName *struct {
		Text string `json:"text"`
	} `json:"displayName"`
	Location *latLng `json:"location"`
	Viewport *struct {
		Low  latLng `json:"low"`
		High latLng `json:"high"`
	} `json:"viewport"`
	ShortFormattedAddress string   `json:"shortFormattedAddress"`
	FormattedAddress      string   `json:"formattedAddress"`
	Types                 []string `json:"types"`
	Rating                *float64 `json:"rating"`
	UserRatingCount       *int     `json:"userRatingCount"`
	BusinessStatus        string   `json:"businessStatus"`
	PriceLevel            string   `json:"priceLevel"`
	IconMaskBaseURI       string   `json:"iconMaskBaseUri"`
	IconBackgroundColor   string   `json:"iconBackgroundColor"`
	PlusCode              *struct {
		GlobalCode   string `json:"globalCode"`
		CompoundCode string `json:"compoundCode"`
	} `json:"plusCode"`
}

// classicResult is places.Place plus the classic fields that have no place
// in places.Place but that Places API (New) still gives.
type classicResult struct {
	places.Place
	IconBackgroundColor string       `json:"icon_background_color,omitempty"`
	IconMaskBaseURI     string       `json:"icon_mask_base_uri,omitempty"`
	PlusCode            *classicPlus `json:"plus_code,omitempty"`
}

type classicPlus struct {
	CompoundCode string `json:"compound_code,omitempty"`
	GlobalCode   string `json:"global_code"`
}

// priceLevels maps the PriceLevel enum to the classic 0..4.
var priceLevels = map[string]int{
	"PRICE_LEVEL_FREE":           0,
	"PRICE_LEVEL_INEXPENSIVE":    1,
	"PRICE_LEVEL_MODERATE":       2,
	"PRICE_LEVEL_EXPENSIVE":      3,
	"PRICE_LEVEL_VERY_EXPENSIVE": 4,
}

// toClassic maps one place. The classic reference was an opaque token
// superseded by place_id, so it carries the id too.
func toClassic(p newPlace) classicResult {
	r := classicResult{Place: places.Place{
		PlaceID:          p.ID,
		Reference:        p.ID,
		Types:            p.Types,
		Rating:           p.Rating,
		UserRatingsTotal: p.UserRatingCount,
		BusinessStatus:   p.BusinessStatus,
		Vicinity:         p.ShortFormattedAddress,
	}}
	if p.DisplayName != nil {
		r.Name = p.DisplayName.Text
	}
	if r.Vicinity == "" {
		r.Vicinity = p.FormattedAddress
	}
	if p.Location != nil {
		r.Geometry.Location = places.LatLng{Lat: p.Location.Latitude, Lng: p.Location.Longitude}
	}
	if v := p.Viewport; v != nil {
		r.Geometry.Viewport = &places.Viewport{
			Northeast: places.LatLng{Lat: v.High.Latitude, Lng: v.High.Longitude},
			Southwest: places.LatLng{Lat: v.Low.Latitude, Lng: v.Low.Longitude},
		}
	}
	if lvl, ok := priceLevels[p.PriceLevel]; ok {
		r.PriceLevel = &lvl
	}
	if p.IconMaskBaseURI != "" {
		// The mask base URI names an icon once given an extension.
		r.Icon = p.IconMaskBaseURI + ".png"
		r.IconMaskBaseURI = p.IconMaskBaseURI
	}
	r.IconBackgroundColor = p.IconBackgroundColor
	if pc := p.PlusCode; pc != nil && pc.GlobalCode != "" {
		r.PlusCode = &classicPlus{CompoundCode: pc.CompoundCode, GlobalCode: pc.GlobalCode}
	}
	return r
}

// Nearby runs one searchNearby call. Upstream failures come back as a
// classic status; the error is non-nil only if ctx was already done.
func (p *Places) Nearby(ctx context.Context, q places.Query) (places.Response, error) {
	if err := ctx.Err(); err != nil {
		return places.Response{}, fmt.Errorf("search nearby: %w", err)
	}
	if msg := checkQuery(q); msg != "" {
		return p.failure(places.StatusInvalidRequest, msg), nil
	}
	var body searchNearbyRequest
	body.MaxResultCount = q.Limit
	body.LocationRestriction.Circle = circle{Center: latLng{q.Lat, q.Lng}, Radius: q.RadiusM}
	buf, err := json.Marshal(body)
	if err != nil {
		return p.failure(places.StatusInvalidRequest, "encode request: "+err.Error()), nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url+SearchNearbyPath, bytes.NewReader(buf))
	if err != nil {
		return p.failure(places.StatusUnknownError, "build upstream request failed"), nil
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Goog-Api-Key", p.key)
	req.Header.Set("X-Goog-FieldMask", FieldMask)
	resp, err := p.client.Do(req)
	if err != nil {
		return p.transportFailure(err), nil
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, p.max+1))
	if err != nil {
		return p.transportFailure(err), nil
	}
	if int64(len(raw)) > p.max {
		return p.failure(places.StatusUnknownError, fmt.Sprintf("upstream response larger than %d bytes", p.max)), nil
	}
	if resp.StatusCode != http.StatusOK {
		return p.errorResponse(resp.StatusCode, raw), nil
	}
	var out struct {
		Places []newPlace `json:"places"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return p.failure(places.StatusUnknownError, "undecodable upstream response: "+err.Error()), nil
	}
	if len(out.Places) > q.Limit {
		out.Places = out.Places[:q.Limit]
	}
	res := places.Response{HTMLAttributions: []string{}, Results: make([]json.RawMessage, 0, len(out.Places)), Status: places.StatusOK}
	for _, np := range out.Places {
		b, err := json.Marshal(toClassic(np))
		if err != nil {
			return p.failure(places.StatusUnknownError, "encode result: "+err.Error()), nil
		}
		res.Results = append(res.Results, b)
	}
	if len(res.Results) == 0 {
		res.Status = places.StatusZeroResults
	}
	return res, nil
}

// googleError is Google's JSON error body.
type googleError struct {
	Error struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Status  string `json:"status"`
		Details []struct {
			Reason string `json:"reason"`
		} `json:"details"`
	} `json:"error"`
}

// errorResponse maps a non-200 answer to a classic status. Google's status
// name decides when the body has one, else the HTTP code.
func (p *Places) errorResponse(code int, raw []byte) places.Response {
	var ge googleError
	_ = json.Unmarshal(raw, &ge) // a non-JSON body (a proxy's HTML page) leaves ge empty
	e := ge.Error
	reason := ""
	for _, d := range e.Details {
		if d.Reason != "" {
			reason = d.Reason
		}
	}
	status := classicStatus(code, e.Status, reason)
	msg := fmt.Sprintf("Places API (New) answered HTTP %d", code)
	if e.Status != "" {
		msg += " " + e.Status
	}
	if e.Message != "" {
		msg += ": " + strings.TrimSpace(e.Message)
	}
	return p.failure(status, msg)
}

// classicStatus maps a Google error (HTTP code, canonical status, ErrorInfo
// reason) to a classic status.
func classicStatus(code int, status, reason string) string {
	switch reason {
	case "API_KEY_INVALID", "API_KEY_SERVICE_BLOCKED", "API_KEY_HTTP_REFERRER_BLOCKED", "API_KEY_IP_ADDRESS_BLOCKED":
		// Google sends a wrong key as 400 INVALID_ARGUMENT; the classic API
		// calls that REQUEST_DENIED.
		return places.StatusRequestDenied
	}
	switch status {
	case "INVALID_ARGUMENT", "FAILED_PRECONDITION", "OUT_OF_RANGE", "NOT_FOUND":
		return places.StatusInvalidRequest
	case "PERMISSION_DENIED", "UNAUTHENTICATED":
		return places.StatusRequestDenied
	case "RESOURCE_EXHAUSTED":
		return places.StatusOverQueryLimit
	case "":
	default:
		return places.StatusUnknownError
	}
	switch {
	case code == http.StatusTooManyRequests:
		return places.StatusOverQueryLimit
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		return places.StatusRequestDenied
	case code >= 400 && code < 500 && code != http.StatusRequestTimeout:
		return places.StatusInvalidRequest
	default:
		return places.StatusUnknownError
	}
}
