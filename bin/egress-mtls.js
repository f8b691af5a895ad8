#!/usr/bin/env node
// The installed CLI: runs the compiled program (npm run build makes dist/).
import { runProcess } from '../dist/cli/main.js'

await runProcess(process.argv.slice(2))
