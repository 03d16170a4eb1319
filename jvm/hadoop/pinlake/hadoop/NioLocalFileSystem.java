package pinlake.hadoop;

import org.apache.hadoop.fs.LocalFileSystem;

/** Hadoop's checksummed local {@code FileSystem} over {@link NioRawLocalFileSystem}
 * ({@code fs.file.impl}). */
public class NioLocalFileSystem extends LocalFileSystem {
  public NioLocalFileSystem() {
    super(new NioRawLocalFileSystem());
  }
}
