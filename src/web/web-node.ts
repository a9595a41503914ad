// The web server process: builds the app, listens, logs its URL, stops cleanly.

import { buildWebApp, type WebApp, type WebOptions } from './server.ts';
import { createLogger, type Logger } from '../node/log.ts';

export interface WebNodeOptions extends Omit<WebOptions, 'logger'> {
  host: string;
  port: number;
  logger?: Logger;
}

export class WebNode {
  private web: WebApp | null = null;
  readonly log: Logger;
  url = '';

  constructor(private readonly opts: WebNodeOptions) {
    this.log = opts.logger ?? createLogger('web');
  }

  async start(): Promise<void> {
    this.web = await buildWebApp({ ...this.opts, logger: this.log });
    await this.web.app.listen({ host: this.opts.host, port: this.opts.port });
    const a = this.web.app.server.address();
    const port = a !== null && typeof a === 'object' ? a.port : this.opts.port;
    const host = this.opts.host.includes(':') ? `[${this.opts.host}]` : this.opts.host;
    this.url = `http://${host}:${port}/`;
    this.log.info({ address: `${this.opts.host}:${port}`, url: this.url, coordinator: this.opts.coordinator }, `web listening on ${this.url}`);
  }

  async stop(): Promise<void> {
    await this.web?.app.close();
    this.log.info('web stopped');
  }
}
