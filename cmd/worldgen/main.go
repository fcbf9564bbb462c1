// Command worldgen builds the world outline of the live view,
// node/live/static/world.json, from the npm package world-atlas
// (Natural Earth 1:110m land, public domain; the package is ISC).
//
// To regenerate the committed file (run from the repository root; the
// browser test's npm install already brings the pinned package):
//
//	(cd node/live/browsertest && npm ci)
//	go run ./cmd/worldgen -in node/live/browsertest/node_modules/world-atlas/land-110m.json \
//	    -out node/live/static/world.json
//
// The TopoJSON arcs are decoded into closed rings of longitude/latitude,
// rounded to 0.1 degree (about 11 km, finer than the 1:110m source needs),
// repeated points dropped, and each ring written as its first point then
// deltas, in tenths of a degree. The output is deterministic: the same input
// reproduces the committed file byte for byte.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
)

// Source names the data in the output file.
const Source = "Natural Earth 1:110m land (public domain), via world-atlas 2.0.2 land-110m.json (ISC)"

func main() {
	if err := run(os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "worldgen:", err)
		os.Exit(1)
	}
}

func run(args []string, log io.Writer) error {
	fs := flag.NewFlagSet("worldgen", flag.ContinueOnError)
	fs.SetOutput(log)
	in := fs.String("in", "", "path to world-atlas' land-110m.json (TopoJSON)")
	out := fs.String("out", "", "file to write (node/live/static/world.json)")
	object := fs.String("object", "land", "TopoJSON object to take")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *in == "" || *out == "" || fs.NArg() != 0 {
		fs.Usage()
		return fmt.Errorf("need -in and -out and no other arguments")
	}
	src, err := os.ReadFile(*in)
	if err != nil {
		return fmt.Errorf("read input: %w", err)
	}
	data, rings, points, err := generate(src, *object)
	if err != nil {
		return err
	}
	if err := os.WriteFile(*out, data, 0o644); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	fmt.Fprintf(log, "worldgen: %d rings, %d points, %d bytes to %s\n", rings, points, len(data), *out)
	return nil
}

// topology is the part of a TopoJSON file worldgen reads.
type topology struct {
	Type      string `json:"type"`
	Transform *struct {
		Scale     [2]float64 `json:"scale"`
		Translate [2]float64 `json:"translate"`
	} `json:"transform"`
	Arcs    [][][2]float64      `json:"arcs"`
	Objects map[string]geometry `json:"objects"`
}

type geometry struct {
	Type       string          `json:"type"`
	Arcs       json.RawMessage `json:"arcs"`
	Geometries []geometry      `json:"geometries"`
}

// generate turns a TopoJSON file into the live view's outline file.
func generate(src []byte, object string) (data []byte, rings, points int, err error) {
	var topo topology
	if err := json.Unmarshal(src, &topo); err != nil {
		return nil, 0, 0, fmt.Errorf("decode topojson: %w", err)
	}
	if topo.Type != "Topology" {
		return nil, 0, 0, fmt.Errorf("decode topojson: type %q, want Topology", topo.Type)
	}
	obj, ok := topo.Objects[object]
	if !ok {
		return nil, 0, 0, fmt.Errorf("decode topojson: no object %q", object)
	}
	arcs := decodeArcs(topo)
	var out [][][2]int
	if err := collect(obj, arcs, &out); err != nil {
		return nil, 0, 0, err
	}
	var b strings.Builder
	b.WriteString(`{"source":` + strconv.Quote(Source) + `,"unit":0.1,"rings":[`)
	for i, ring := range out {
		if i > 0 {
			b.WriteString(",\n")
		}
		b.WriteByte('[')
		prev := [2]int{}
		for j, p := range ring {
			if j > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, "%d,%d", p[0]-prev[0], p[1]-prev[1])
			prev = p
		}
		b.WriteByte(']')
		points += len(ring)
	}
	b.WriteString("]}\n")
	return []byte(b.String()), len(out), points, nil
}

// decodeArcs undoes the delta encoding and quantization of the arcs,
// giving longitude/latitude pairs.
func decodeArcs(topo topology) [][][2]float64 {
	arcs := make([][][2]float64, len(topo.Arcs))
	for i, arc := range topo.Arcs {
		pts := make([][2]float64, len(arc))
		var x, y float64
		for j, p := range arc {
			if topo.Transform == nil {
				pts[j] = p
				continue
			}
			x, y = x+p[0], y+p[1]
			pts[j] = [2]float64{
				x*topo.Transform.Scale[0] + topo.Transform.Translate[0],
				y*topo.Transform.Scale[1] + topo.Transform.Translate[1],
			}
		}
		arcs[i] = pts
	}
	return arcs
}

// collect appends the rings of g's polygons, quantized, to out.
func collect(g geometry, arcs [][][2]float64, out *[][][2]int) error {
	switch g.Type {
	case "GeometryCollection":
		for _, c := range g.Geometries {
			if err := collect(c, arcs, out); err != nil {
				return err
			}
		}
		return nil
	case "Polygon":
		var poly [][]int
		if err := json.Unmarshal(g.Arcs, &poly); err != nil {
			return fmt.Errorf("decode polygon: %w", err)
		}
		return appendRings(poly, arcs, out)
	case "MultiPolygon":
		var multi [][][]int
		if err := json.Unmarshal(g.Arcs, &multi); err != nil {
			return fmt.Errorf("decode multipolygon: %w", err)
		}
		for _, poly := range multi {
			if err := appendRings(poly, arcs, out); err != nil {
				return err
			}
		}
		return nil
	default:
		return fmt.Errorf("geometry type %q is not polygonal", g.Type)
	}
}

func appendRings(poly [][]int, arcs [][][2]float64, out *[][][2]int) error {
	for _, ringArcs := range poly {
		var ring [][2]int
		for _, a := range ringArcs {
			i, reverse := a, false
			if a < 0 {
				i, reverse = ^a, true // TopoJSON: ~i is arc i reversed
			}
			if i >= len(arcs) {
				return fmt.Errorf("arc index %d out of range (%d arcs)", a, len(arcs))
			}
			pts := arcs[i]
			for k := range pts {
				p := pts[k]
				if reverse {
					p = pts[len(pts)-1-k]
				}
				q := [2]int{quantize(p[0]), quantize(p[1])}
				if len(ring) > 0 && ring[len(ring)-1] == q {
					continue // also drops each arc's first point, shared with the previous arc's last
				}
				ring = append(ring, q)
			}
		}
		if len(ring) >= 4 { // a closed ring with an area
			*out = append(*out, ring)
		}
	}
	return nil
}

// quantize rounds degrees to tenths of a degree.
func quantize(deg float64) int { return int(math.Round(deg * 10)) }
