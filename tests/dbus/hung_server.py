"""Owns org.freedesktop.Notifications on the session bus and never answers a call: what a
notification server that hangs looks like to its clients (each call waits for its timeout).
Prints "ready" once the name is owned."""
import sys
import time

import dbus

bus = dbus.SessionBus()
bus.request_name('org.freedesktop.Notifications', dbus.bus.NAME_FLAG_DO_NOT_QUEUE)
print('ready', flush=True)
# No main loop: calls are never read, let alone answered.
while True:
    time.sleep(3600)
