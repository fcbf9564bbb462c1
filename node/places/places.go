// Package places defines the boundary between a herd node and whatever
// answers "what is near this point": the Provider interface and the classic
// Google Nearby Search response shape every provider is mapped to.
package places

import (
	"context"
	"encoding/json"
	"fmt"
)

// Statuses of the classic Nearby Search API. Every provider reports one of
// these, whatever its upstream speaks.
const (
	StatusOK             = "OK"
	StatusZeroResults    = "ZERO_RESULTS"
	StatusOverQueryLimit = "OVER_QUERY_LIMIT"
	StatusRequestDenied  = "REQUEST_DENIED"
	StatusInvalidRequest = "INVALID_REQUEST"
	StatusUnknownError   = "UNKNOWN_ERROR"
)

// Query is one nearby search: a centre, a radius and how many results at most.
type Query struct {
	Lat, Lng float64 // degrees
	RadiusM  float64 // metres, > 0
	Limit    int     // 1..20
}

// Response is a classic Nearby Search response. Results are kept as raw JSON
// objects so that a provider passing upstream results through (the legacy
// API) loses no field the herd does not know about.
type Response struct {
	HTMLAttributions []string          `json:"html_attributions"`
	Results          []json.RawMessage `json:"results"`
	Status           string            `json:"status"`
	ErrorMessage     string            `json:"error_message,omitempty"`
}

// Provider answers nearby searches. Implementations must be safe for
// concurrent use. An upstream failure is reported in Response.Status and
// Response.ErrorMessage, not as an error: the client still gets a JSON body.
// A non-nil error means the search could not be attempted at all (for
// example ctx was cancelled); callers render it as UNKNOWN_ERROR.
type Provider interface {
	Nearby(ctx context.Context, q Query) (Response, error)
}

// LatLng is a point in the classic shape.
type LatLng struct {
	Lat float64 `json:"lat"`
	Lng float64 `json:"lng"`
}

// Viewport is a bounding box in the classic shape.
type Viewport struct {
	Northeast LatLng `json:"northeast"`
	Southwest LatLng `json:"southwest"`
}

// Geometry is the classic result geometry.
type Geometry struct {
	Location LatLng    `json:"location"`
	Viewport *Viewport `json:"viewport,omitempty"`
}

// Place is one classic Nearby Search result, for providers that build
// results themselves (offline, Places API (New)). Marshal it with
// Place.JSON to get a Response result.
type Place struct {
	BusinessStatus   string   `json:"business_status,omitempty"`
	Geometry         Geometry `json:"geometry"`
	Icon             string   `json:"icon,omitempty"`
	Name             string   `json:"name"`
	PlaceID          string   `json:"place_id"`
	PriceLevel       *int     `json:"price_level,omitempty"`
	Rating           *float64 `json:"rating,omitempty"`
	Reference        string   `json:"reference,omitempty"`
	Types            []string `json:"types,omitempty"`
	UserRatingsTotal *int     `json:"user_ratings_total,omitempty"`
	Vicinity         string   `json:"vicinity,omitempty"`
}

// JSON marshals p as one result object. It fails only on values JSON cannot
// carry (NaN or infinite numbers).
func (p Place) JSON() (json.RawMessage, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("marshal place %q: %w", p.PlaceID, err)
	}
	return b, nil
}

// Failure is a response carrying only an error status and message.
func Failure(status, msg string) Response {
	return Response{HTMLAttributions: []string{}, Results: []json.RawMessage{}, Status: status, ErrorMessage: msg}
}
