package main

import "embed"

// assets are the page templates and static files, built into the binary so
// it runs from any directory.
//
//go:embed templates static
var assets embed.FS
