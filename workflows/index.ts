// Every workflow the worker registers. Deterministic code only (see eslint.config.mjs).
export { ping } from './ping';
export { migration } from './migration';
export { placementSweep } from './placement-sweep';
