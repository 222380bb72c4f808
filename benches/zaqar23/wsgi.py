"""Zaqar 23's WSGI application for gunicorn, configured from $ZAQAR_CONFIG_FILE
(zaqar.transport.wsgi.app reads only the standard config paths)."""
import os

from oslo_config import cfg
from oslo_log import log

from zaqar import bootstrap
from zaqar.common import consts

CONF = cfg.CONF
log.register_options(CONF)
CONF(project='zaqar', prog='zaqar-queues',
     args=['--config-file', os.environ['ZAQAR_CONFIG_FILE']])
log.setup(CONF, 'zaqar')
_boot = bootstrap.Bootstrap(CONF)
CONF.drivers.transport = consts.TRANSPORT_WSGI
application = _boot.transport.app
