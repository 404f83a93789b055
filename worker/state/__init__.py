"""What the service and the workers share: the database (models, migrations), file storage and its
layout, the settings, the job queue, job records and their progress, and the job graphs the service
submits."""
