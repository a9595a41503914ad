// Accounts (issue #15 item 5), in process against a real cluster: changing the
// password ends every other session of the account in the same transaction
// (across web servers), a wrong current password is 403 and ends nothing;
// deleting the account ends all its sessions, keeps its name taken and its tweets.

import { test, after, before, describe } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import { buildWebApp, type WebApp } from '../../src/web/server.ts';
import { SESSION_COOKIE } from '../../src/web/auth.ts';
import { Cluster } from '../helpers/cluster.ts';
import { json, problem, sessionCookie, signUp } from '../helpers/web.ts';

describe('accounts: change password, delete account', () => {
  let cluster: Cluster;
  const apps: WebApp[] = [];
  let one: FastifyInstance;
  let two: FastifyInstance;

  before(async () => {
    cluster = await Cluster.start({ workers: 2 });
    for (let i = 0; i < 2; i++) {
      const w = await buildWebApp({ coordinator: cluster.address, coordinatorAccess: cluster.access });
      await w.app.ready();
      apps.push(w);
    }
    one = (apps[0] as WebApp).app;
    two = (apps[1] as WebApp).app;
  });

  after(async () => {
    for (const w of apps) await w.app.close();
    await cluster?.stop();
  });

  const me = async (app: FastifyInstance, cookie: string): Promise<number> => (await app.inject({ method: 'GET', url: '/api/me', cookies: { [SESSION_COOKIE]: cookie } })).statusCode;
  const login = (app: FastifyInstance, username: string, password: string) => app.inject({ method: 'POST', url: '/api/login', payload: { username, password } });

  test('changing the password keeps this session, ends every other one (on any web server), and only the new password signs in', async () => {
    const here = await signUp(one, 'carol', 'first password');
    const phone = sessionCookie(await login(two, 'carol', 'first password'));
    const laptop = sessionCookie(await login(one, 'Carol', 'first password'));
    assert.equal(await me(two, phone), 200);

    const wrong = await one.inject({ method: 'PUT', url: '/api/account/password', cookies: { [SESSION_COOKIE]: here }, payload: { current: 'not it at all', password: 'second password' } });
    problem(wrong, 403, 'FORBIDDEN');
    assert.equal(await me(two, phone), 200, 'a wrong current password ends nothing');
    problem(await one.inject({ method: 'PUT', url: '/api/account/password', cookies: { [SESSION_COOKIE]: here }, payload: { current: 'first password', password: 'short' } }), 400, 'INVALID');

    const r = await one.inject({ method: 'PUT', url: '/api/account/password', cookies: { [SESSION_COOKIE]: here }, payload: { current: 'first password', password: 'second password' } });
    assert.equal(r.statusCode, 204, r.body);
    assert.equal(await me(one, here), 200, 'the session that changed it stays');
    assert.equal(await me(two, phone), 401, 'another web server\'s session ended');
    assert.equal(await me(one, laptop), 401, 'another session on this server ended');
    problem(await login(one, 'carol', 'first password'), 401, 'UNAUTHENTICATED');
    assert.equal((await login(two, 'carol', 'second password')).statusCode, 200);
  });

  test('deleting the account ends its sessions, keeps its tweets, and its name cannot be taken again', async () => {
    const here = await signUp(one, 'dave', 'dave password');
    const other = sessionCookie(await login(two, 'dave', 'dave password'));
    const posted = json(await one.inject({ method: 'POST', url: '/api/tweet', cookies: { [SESSION_COOKIE]: here }, payload: { content: 'before I leave' } }));

    problem(await one.inject({ method: 'DELETE', url: '/api/account', cookies: { [SESSION_COOKIE]: here }, payload: { password: 'wrong password' } }), 403, 'FORBIDDEN');
    assert.equal(await me(one, here), 200);
    const r = await one.inject({ method: 'DELETE', url: '/api/account', cookies: { [SESSION_COOKIE]: here }, payload: { password: 'dave password' } });
    assert.equal(r.statusCode, 204, r.body);
    assert.match(String(r.headers['set-cookie']), new RegExp(`${SESSION_COOKIE}=;`), 'the cookie is cleared');
    assert.equal(await me(one, here), 401);
    assert.equal(await me(two, other), 401);
    problem(await login(one, 'dave', 'dave password'), 401, 'UNAUTHENTICATED');
    problem(await one.inject({ method: 'POST', url: '/api/register', payload: { username: 'DAVE', password: 'a new password' } }), 409, 'EXISTS');

    const reader = await signUp(two, 'erin', 'erin password');
    const t = await two.inject({ method: 'GET', url: `/api/tweet/${encodeURIComponent(String(posted.id))}`, cookies: { [SESSION_COOKIE]: reader } });
    assert.equal(t.statusCode, 200, 'its tweets stay');
    assert.equal(json(t).username, 'dave');
  });
});
