#!/usr/bin/env node
// Entry point of the `tweetdb` command. The sources are TypeScript, run through
// tsx's loader so that `npx tweetdb` works right after `npm install` with no build step.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/main.ts');
