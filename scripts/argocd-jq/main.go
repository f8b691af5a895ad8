// argocd-jq applies Argo CD's ignoreDifferences jqPathExpressions to one object, the way
// Argo CD's diff normalizer does (util/argo/normalizers in Argo CD): each expression EXPR
// is compiled by gojq as del(EXPR) and run on the object; it must yield exactly one value.
// Argo CD skips an expression that fails, silently; this program exits 1 and says why,
// so a test can tell a recipe that works from one Argo CD would quietly ignore.
//
//	go run . EXPR... < object.json > normalized.json
package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/itchyny/gojq"
)

func main() {
	var doc any
	if err := json.NewDecoder(os.Stdin).Decode(&doc); err != nil {
		fail("stdin: %v", err)
	}
	for _, expr := range os.Args[1:] {
		query, err := gojq.Parse(fmt.Sprintf("del(%s)", expr))
		if err != nil {
			fail("%s: %v", expr, err)
		}
		code, err := gojq.Compile(query)
		if err != nil {
			fail("%s: %v", expr, err)
		}
		iter := code.Run(doc)
		first, ok := iter.Next()
		if !ok {
			fail("%s: no result", expr)
		}
		if err, isErr := first.(error); isErr {
			fail("%s: %v", expr, err)
		}
		if _, more := iter.Next(); more {
			fail("%s: more than one result", expr)
		}
		doc = first
	}
	if err := json.NewEncoder(os.Stdout).Encode(doc); err != nil {
		fail("stdout: %v", err)
	}
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "argocd-jq: "+format+"\n", args...)
	os.Exit(1)
}
