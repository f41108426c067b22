export * from './service';
export { effectiveSafety, type Safety, type SafetyPolicy } from './precedence';
export { migrationInput, parseApprovers, type TemporalDeps } from './temporal';
