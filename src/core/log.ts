/** One structured log line (JSON on stdout, which Lambda sends to CloudWatch Logs). */
export type LogRecord = { level: 'info' | 'warn' | 'error'; message: string } & Record<string, unknown>;

/** Where log records go; tests capture them. */
export type Logger = (record: LogRecord) => void;

/** Writes each record as one JSON line. */
export const jsonLogger: Logger = (record) => {
  const line = JSON.stringify({ time: new Date().toISOString(), ...record });
  if (record.level === 'error') console.error(line);
  else console.log(line);
};
