// Types of scripts/bundling.cjs for the TypeScript that imports it (bench, tests).
import type { BuildOptions, Plugin } from 'esbuild';

export declare const LAMBDA_BUILD: {
  bundle: true;
  minify: true;
  sourcemap: false;
  target: string;
  platform: 'node';
  format: 'cjs';
  mainFields: string[];
} & BuildOptions;
export declare const SCHEMA_FILE: RegExp;
export declare const XML_PARSER_FILE: RegExp;
export declare const XML_PARSER_SHA256: string;
export declare function inlineSchemaKeys(source: string): { contents: string; replaced: number };
export declare function plugins(): Plugin[];
export declare const sdkSchemaKeys: Plugin;
export declare const sdkXmlParser: Plugin;
