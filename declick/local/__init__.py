"""The whole Declick pipeline on an emulated AWS (moto, in process): `declick local run`.

`emulator` deploys a synthesized CloudFormation template on moto and runs the real handlers;
`runner` adds the API endpoint (our own service by default) and the upload/collect loop;
`fake_vendor` is a scriptable stand-in for the vendor's API, to rehearse its failures.
"""
