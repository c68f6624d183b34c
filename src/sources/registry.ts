/** Every `source_type` the config may name: adding a source is one line here. */
import { astropixSource } from './astropix.js';
import { djangoplicitySource } from './djangoplicity.js';
import type { SourceDefinition } from './source.js';

export const SOURCES: readonly SourceDefinition[] = [astropixSource, djangoplicitySource];
