#!/usr/bin/env node
// The installed CLI: runs the compiled program (npm run build makes dist/).
import { main } from '../dist/cli/main.js'

process.exitCode = await main(process.argv.slice(2))
