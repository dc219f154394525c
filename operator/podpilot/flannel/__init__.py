"""The flannel subnet reporter: one folder for the whole feature.

- ``engine/`` (pure): the flannel network model and its checks, the slim copies of watched
  objects, label selectors and finding transitions.
- ``api/`` (pure): the FlannelSubnetReport and FlannelNetworkReport objects (status rendering,
  merge patches) and the Event wording.
- ``controller/`` (I/O): the debounced reconciler and the publisher that writes reports and
  Events. kopf decorators live in ``podpilot.app.flannel``.
"""
