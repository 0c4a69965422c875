/** switchyard's public API: what `import ... from 'switchyard'` gives a route script. */
export * from './core/index.ts';
