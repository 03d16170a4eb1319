package pinlake.hadoop;

import java.io.FileNotFoundException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.attribute.PosixFileAttributeView;
import java.nio.file.attribute.PosixFilePermission;
import java.util.EnumSet;
import java.util.Set;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.RawLocalFileSystem;
import org.apache.hadoop.fs.permission.FsPermission;

/**
 * Hadoop's raw local file system with two operations done through Java NIO instead of a shell
 * command. Without Hadoop's native library (none ships with pyspark), {@link RawLocalFileSystem}
 * forks {@code chmod} to set a permission and {@code readlink} for a path's link status, which
 * every rename through {@code FileContext} asks for: each Delta commit renames its log file and
 * its checksum file, so about four processes per commit, 5–6 ms of CPU each (bench/README.md).
 * Everything else, and any path that is a symbolic link, is Hadoop's own code.
 */
public class NioRawLocalFileSystem extends RawLocalFileSystem {
  private static final PosixFilePermission[] BITS = {
    PosixFilePermission.OTHERS_EXECUTE, PosixFilePermission.OTHERS_WRITE,
    PosixFilePermission.OTHERS_READ, PosixFilePermission.GROUP_EXECUTE,
    PosixFilePermission.GROUP_WRITE, PosixFilePermission.GROUP_READ,
    PosixFilePermission.OWNER_EXECUTE, PosixFilePermission.OWNER_WRITE,
    PosixFilePermission.OWNER_READ,
  };

  /** The nine permission bits of {@code permission} (no sticky bit) as NIO's set. */
  static Set<PosixFilePermission> posix(FsPermission permission) {
    int mode = permission.toShort();
    Set<PosixFilePermission> set = EnumSet.noneOf(PosixFilePermission.class);
    for (int bit = 0; bit < BITS.length; bit++) {
      if ((mode & (1 << bit)) != 0) {
        set.add(BITS[bit]);
      }
    }
    return set;
  }

  @Override
  public void setPermission(Path p, FsPermission permission) throws IOException {
    java.nio.file.Path path = pathToFile(p).toPath();
    PosixFileAttributeView view =
        Files.getFileAttributeView(path, PosixFileAttributeView.class, LinkOption.NOFOLLOW_LINKS);
    if (view == null || permission.getStickyBit() || Files.isSymbolicLink(path)) {
      super.setPermission(p, permission);
      return;
    }
    view.setPermissions(posix(permission));
  }

  @Override
  public FileStatus getFileLinkStatus(Path f) throws IOException {
    java.nio.file.Path path = pathToFile(f).toPath();
    if (Files.isSymbolicLink(path)) {
      return super.getFileLinkStatus(f);
    }
    if (!Files.exists(path, LinkOption.NOFOLLOW_LINKS)) {
      throw new FileNotFoundException("File " + f + " does not exist");
    }
    return getFileStatus(f);
  }
}
